"""Make the pictures of the documentation: every method on the shipped demo model.

Run from the repository root: ``python docs/make_figures.py [--out docs/img] [--iterations 300]``.
It renders one generated clip of :class:`~videoattr.datasets.SyntheticMotion` (a red square moving
among distractors; the class is its direction of motion), explains the demo model's decision with
every method, and writes one small PNG per method: the input frames, the map over them and, for the
perturbation methods, the preserved clip. CPU, about a minute; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from videoattr import demo_model
from videoattr.datasets import SyntheticMotion
from videoattr.methods import GradCAM3D, IntegratedGradients, Saliency, SmoothGrad
from videoattr.methods.extremal import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    Perturbation,
)
from videoattr.metrics import mass_in_ground_truth
from videoattr.viz import Sheet, render_sheet

#: Every other frame is shown, so a sheet is 8 frames wide.
FRAME_STRIDE = 2


def save_small(sheet: Sheet, path: Path) -> Path:
    """Save ``sheet`` as a 256-colour PNG (a third of the size of a true-colour one)."""
    image = Image.fromarray(sheet.image.numpy()).quantize(colors=256, dither=Image.Dither.NONE)
    image.save(path, optimize=True)
    return path


def _clip() -> tuple[Tensor, Tensor, int]:
    """One clip where the red square is visible in every frame: ``(1, 3, 16, 56, 56)``, mask, label."""
    data = SyntheticMotion(seed=3, evidence="full", **demo_model.DATASET_KWARGS)
    batch = data.sample(1, start=1)  # label 1 ("down")
    return batch.clips, batch.masks, int(batch.labels[0])


def main() -> None:
    """Render the figures into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/img", help="output folder (default: docs/img)")
    parser.add_argument(
        "--iterations", type=int, default=300, help="perturbation iterations (Adam)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    model = demo_model.load_demo_model()
    clip, gt, label = _clip()
    names = demo_model.CLASS_NAMES
    with torch.no_grad():
        prob = float(torch.softmax(model(clip), dim=1)[0, label])
    mean, std = demo_model.MEAN, demo_model.STD
    ep = {"max_iter": args.iterations, "optimizer": "adam", "progress": False}

    methods: dict[str, Callable[[], Tensor]] = {
        "saliency": lambda: Saliency(model, polarity="absolute").attribute(clip, label),
        "grad_x_input": lambda: Saliency(
            model, multiply_by_inputs=True, polarity="positive"
        ).attribute(clip, label),
        "integrated_gradients": lambda: IntegratedGradients(
            model, steps=25, baseline="black", mean=mean, std=std, polarity="positive"
        ).attribute(clip, label),
        "smoothgrad": lambda: SmoothGrad(
            Saliency(model, polarity="absolute"), n=25, variant="square"
        ).attribute(clip, label),
        "grad_cam": lambda: GradCAM3D(model, demo_model.GRADCAM_LAYER, normalize=True).attribute(
            clip, label
        ),
        "ep2d": lambda: ExtremalPerturbation2D(model, **ep).attribute(clip, label, areas=0.1),
        "ep3d": lambda: ExtremalPerturbation3D(model, **ep).attribute(clip, label, areas=0.1),
        "step": lambda: STEP(model, **ep).attribute(clip, label, areas=0.1),
    }
    frames = clip[:, :, ::FRAME_STRIDE]
    ground_truth = render_sheet(
        frames,
        gt[:, :, ::FRAME_STRIDE].float(),
        value_range=(0.0, 1.0),
        mean=mean,
        std=std,
        label=f"{names[label]} (ground truth)",
        map_names=["ground truth"],
        scale=2,
    )
    save_small(ground_truth, out / "ground_truth.png")
    print(f"clip: class {names[label]!r}, demo model's probability {prob:.3f}")
    for name, compute in methods.items():
        start = time.perf_counter()
        maps = compute()
        seconds = time.perf_counter() - start
        perturbation = name in ("ep2d", "ep3d", "step")
        preserved = None
        if perturbation:
            target = torch.zeros(1, dtype=torch.long)
            preserved = Perturbation(clip).apply(maps[0], target)
        mass = float(mass_in_ground_truth(maps, gt)[0])
        sheet = render_sheet(
            frames,
            maps[:, :, ::FRAME_STRIDE],
            None if preserved is None else preserved[:, :, ::FRAME_STRIDE],
            label=f"{names[label]}: {name}",
            value_range=(0.0, 1.0) if perturbation else None,
            mean=mean,
            std=std,
            scale=2,
        )
        path = save_small(sheet, out / f"{name}.png")
        kept = ""
        if preserved is not None:
            with torch.no_grad():
                p = float(torch.softmax(model(preserved), dim=1)[0, label])
            kept = f", probability on the preserved clip {p:.3f}"
        print(f"{name:<21} {seconds:6.2f}s  mass on the object {mass:.2f}{kept}  -> {path}")


if __name__ == "__main__":
    main()
