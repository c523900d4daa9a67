"""Run time of ``videoattr evaluate`` per video and method, on generated data of each dataset's shape.

For each dataset format a small dataset is written in its published layout (``tests/datasets/
formats.py``) with frames of that dataset's usual size, and evaluated with R(2+1)D-18 (random
weights, a classifier of the dataset's class count: the time does not depend on the weights) at
16 x 112 x 112, one video at a time, through the same code as ``videoattr evaluate``. Reported per
method: wall time per video of the attribution (the runner's ``seconds``) and of the whole command
per video (reading frames, scoring and writing included); for the perturbation methods also the time
per optimiser iteration, from which the time of a preset follows (fast: 200, paper: 2000).

Usage::

    python benchmarks/evaluate_datasets.py                       # every format, 2 videos
    python benchmarks/evaluate_datasets.py --datasets ucf101-24 --videos 3 --step-iterations 10
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tests.datasets.formats import Video, write_act, write_epic, write_something_else  # noqa: E402
from videoattr.evaluation import MethodSpec, evaluate, load_model_for, open_source  # noqa: E402
from videoattr.methods.registry import build_attributor  # noqa: E402
from videoattr.pipeline import model_options  # noqa: E402

#: (frame size (H, W), frames per video, class count) of each format.
SHAPES = {
    "ucf101-24": ((240, 320), 40, 24),
    "jhmdb-21": ((240, 320), 35, 21),
    "something-else": ((240, 427), 36, 174),
    "epic-kitchens": (
        (54, 96),
        60,
        20,
    ),  # EPIC frames are 256 x 456; the writer needs 1/20 of 1080p
}


def write(name: str, root: Path, videos: int) -> None:
    (h, w), n, k = SHAPES[name]
    labels = [f"class{i}" for i in range(k)]
    made = [
        Video(f"class{i % k}/v{i}" if "ucf" in name or "jhmdb" in name else f"P01_{i:02d}" if "epic" in name else str(1000 + i),
              i % k, n, (h, w), {f: (w // 4, h // 4, w // 2, h // 2) for f in range(1, n + 1)})
        for i in range(videos)
    ]  # fmt: skip
    if name in ("ucf101-24", "jhmdb-21"):
        write_act(
            root, made, labels, file="UCF101v2-GT.pkl" if name == "ucf101-24" else "JHMDB-GT.pkl"
        )
    elif name == "something-else":
        write_something_else(root, made, [f"Doing something {i}" for i in range(k)])
    else:
        write_epic(root, made, labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(SHAPES))
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--step-iterations", type=int, default=5)
    p.add_argument("--ig-steps", type=int, default=50)
    args = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")  # fmt: skip
    print("| dataset | frames (H x W) | method | attribution s / video | command s / video |")
    print("|---|---|---|---|---|")
    for name in args.datasets:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "data"
            write(name, root, args.videos)
            source = open_source(name, root)
            model, _ = load_model_for("r2plus1d_18", None, source.labels, dataset=name)
            methods = {
                "grad_cam": {},
                "integrated_gradients": {"steps": args.ig_steps},
                "step": {"max_iter": args.step_iterations, "areas": (0.1,)},
            }
            for method, opts in methods.items():
                options = {**model_options(method, model), **opts}
                areas = options.pop("areas", None)
                spec = MethodSpec(method, build_attributor(method, model, **options), areas=areas)
                start = time.perf_counter()
                table = evaluate(
                    source,
                    model,
                    [spec],
                    Path(tmp) / method,
                    num_workers=0,
                    progress=False,
                    resamples=10,
                )
                total = (time.perf_counter() - start) / args.videos
                row = table.rows[0]
                count = {"step": args.step_iterations, "integrated_gradients": args.ig_steps}
                unit = {"step": "iterations", "integrated_gradients": "steps"}
                note = f" ({count[method]} {unit[method]})" if method in count else ""
                (h, w) = SHAPES[name][0]
                print(
                    f"| {name} | {h} x {w} | {method}{note} | {row.seconds:.2f} | {total:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
