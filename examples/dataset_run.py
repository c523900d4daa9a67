"""Attribute a whole folder of videos with :func:`videoattr.runner.run`, resume it, read the results.

Run: ``python examples/dataset_run.py [--clips 8] [--out dataset_run_out]``.

The script writes ``--clips`` short synthetic videos into ``<out>/videos`` named ``<label>-<i>.gif``
(the label before ``-`` is the class to explain, as in the paper's folders), then:

1. runs Grad-CAM with the shipped demo model over the folder: one result per clip in
   ``<out>/run/results/<id>.npz`` and a ``manifest.json``;
2. runs the same call again: every clip is already complete, so nothing is recomputed (a run that was
   interrupted resumes the same way);
3. reads one result back with :class:`~videoattr.runner.ResultStore`.

The same run on the command line, and sharded over 2 processes (one GPU each when there are GPUs):

    videoattr run --videos-dir OUT/videos --out OUT/run --model demo --method grad_cam
    torchrun --nproc_per_node=2 -m videoattr run --videos-dir OUT/videos --out OUT/run ...

CPU, a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from videoattr import demo_model, io, zoo
from videoattr.datasets import SyntheticMotion
from videoattr.runner import ResultStore, run


def write_videos(folder: Path, n: int) -> None:
    """Write ``n`` generated clips as ``<class name>-<i>.gif`` into ``folder``."""
    data = SyntheticMotion(seed=11, **demo_model.DATASET_KWARGS)
    for i in range(n):
        sample = data.render(i)  # frames (16, 56, 56, 3) uint8, label i % 4
        io.write_video(
            folder / f"{demo_model.CLASS_NAMES[sample.label]}-{i:03d}.gif", sample.frames
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=8, help="number of videos (default 8)")
    parser.add_argument("--out", default="dataset_run_out", help="output folder")
    parser.add_argument("--method", default="grad_cam", help="method name (default grad_cam)")
    args = parser.parse_args()
    out = Path(args.out)
    videos = out / "videos"
    write_videos(videos, args.clips)

    adapter = zoo.load("demo")  # the demo model with its preprocessing and class names
    summary = run(
        videos, adapter, args.method, out / "run", batch_size=4, num_workers=0, progress=False
    )
    print("first run: ", summary)
    again = run(
        videos, adapter, args.method, out / "run", batch_size=4, num_workers=0, progress=False
    )
    print("second run:", again)
    assert again.skipped == args.clips and again.done == 0, "a rerun recomputes nothing"

    store = ResultStore(out / "run")
    first = sorted(store.complete_ids())[0]
    maps, meta = store.read_result(first)  # float32 (A, T, H, W), dict
    print(f"result {first!r}: maps {maps.shape} {maps.dtype}; metadata keys {sorted(meta)}")
    print(f"manifest: {summary.manifest}")


if __name__ == "__main__":
    main()
