"""A tiny adapter, a folder of generated clips and the script the subprocess tests launch.

Run as a script (``python tests/runner/tiny.py ...`` or ``torchrun ... tests/runner/tiny.py ...``) it
calls :func:`videoattr.runner.run` on a folder with the tiny adapter, one thread per process so that
every launch computes bit for bit the same as the in-process reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

if __package__ in (None, ""):  # launched as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import tiny_cnn3d
from videoattr import io, zoo
from videoattr.core.base import Attributor
from videoattr.datasets import MEAN, STD, SyntheticMotion
from videoattr.methods.registry import build_attributor, resolve_method
from videoattr.pipeline import model_options
from videoattr.zoo import VideoAdapter

CLASS_NAMES = ["right", "down", "left", "up"]
CLIP_LEN = 8
SIZE = 32
CORRUPT = "up-999"


def tiny_adapter() -> VideoAdapter:
    """The tests' two-layer 3-D CNN as a zoo adapter: 8 x 32 x 32 clips, 4 named classes."""
    return zoo.wrap(
        tiny_cnn3d(num_classes=len(CLASS_NAMES), seed=0),
        mean=MEAN,
        std=STD,
        clip_len=CLIP_LEN,
        size=SIZE,
        resize=SIZE,
        layer="2",
        class_names=CLASS_NAMES,
        name="tiny",
    )


def make_videos(
    folder: Path, n: int, *, corrupt: bool = True, clip_len: int = CLIP_LEN, size: int = SIZE
) -> list[str]:
    """Write ``n`` generated GIF clips ``<direction>-<i>.gif`` (and a corrupt ``up-999.mp4``).

    Returns:
        The clip ids (file stems), sorted as the folder lists them.
    """
    data = SyntheticMotion(num_classes=4, clip_len=clip_len, size=size, seed=3)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sample = data.render(i)
        io.write_video(folder / f"{CLASS_NAMES[sample.label]}-{i:03d}.gif", sample.frames)
    if corrupt:
        (folder / f"{CORRUPT}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return sorted(p.stem for p in folder.iterdir())


#: Cheap settings of the methods for the tests (few steps, draws and iterations).
CHEAP: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"n": 3, "seed": 5},
    **{m: {"max_iter": 3, "optimizer": "adam", "seed": 5} for m in ("ep2d", "ep3d", "step")},
}


def build(method: str, adapter: torch.nn.Module, **options: Any) -> Attributor:
    """The method (a name or alias) for ``adapter`` with cheap settings, as the runner builds it."""
    name = resolve_method(method)
    merged = {**model_options(name, adapter), **CHEAP.get(name, {}), **options}
    return build_attributor(name, adapter, **merged)


class Slow:
    """An attribution callable that sleeps before each call (lets a test kill a run part-way)."""

    def __init__(self, explainer: object, delay: float) -> None:
        self.explainer = explainer
        self.delay = delay
        self.__name__ = "slow"

    def __call__(self, x: Tensor, target: list[int]) -> Tensor:
        time.sleep(self.delay)
        out: Tensor = self.explainer(x, target)  # type: ignore[operator]
        return out


def main(argv: list[str] | None = None) -> int:
    from videoattr.runner import run

    p = argparse.ArgumentParser()
    p.add_argument("videos_dir")
    p.add_argument("out")
    p.add_argument("--method", default="grad")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    adapter = tiny_adapter()
    explainer = build(args.method, adapter)
    attributor = Slow(explainer, args.delay) if args.delay else explainer
    summary = run(
        args.videos_dir,
        adapter,
        attributor,
        args.out,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device="cpu",
        progress=False,
    )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
