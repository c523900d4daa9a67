"""Every attribution method of videoattr on the shipped demo model, with a PNG sheet per method.

Run: ``python examples/methods_tour.py [--out methods_tour_out] [--iterations 60]``.

The demo model (a small 3-D CNN inside the package) classifies the direction in which a red square
moves in a generated ``(3, 16, 56, 56)`` clip. Each method explains the model's decision on two
clips; the script prints the output shape, the time and the share of the attribution that lies on
the red square (the pixels that decide the class: higher is better, a uniform map scores about 0.04),
and writes ``<out>/<method>.png``: input frames, the map, and for the perturbation methods the
preserved clip. CPU, under a minute with the default ``--iterations``; nothing is downloaded. The
perturbation methods use Adam and few iterations here; the paper's setting is SGD for 2000
iterations (the default of the classes).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

import videoattr as va
from videoattr import demo_model
from videoattr.datasets import SyntheticMotion
from videoattr.metrics import mass_in_ground_truth
from videoattr.viz import OverlayStyle, SheetCaption, save_sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="methods_tour_out", help="output folder")
    parser.add_argument(
        "--iterations", type=int, default=60, help="perturbation iterations (Adam; default 60)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = demo_model.load_demo_model()
    batch = SyntheticMotion(seed=5, evidence="full", **demo_model.DATASET_KWARGS).sample(2)
    clips, labels = batch.clips, batch.labels  # (2, 3, 16, 56, 56), (2,)
    gt = batch.masks  # (2, 1, 16, 56, 56) bool: the red square's pixels
    mean, std = demo_model.MEAN, demo_model.STD
    layer = demo_model.GRADCAM_LAYER  # "features.block4", output (B, 64, 4, 7, 7)
    fast = {"max_iter": args.iterations, "optimizer": "adam", "progress": False}

    # name -> a function computing (2, 1|A, 16, 56, 56) maps for the true labels
    methods: dict[str, Callable[[], Tensor]] = {
        "saliency": lambda: va.Saliency(model, polarity="absolute").attribute(clips, labels),
        "grad_x_input": lambda: va.Saliency(
            model, multiply_by_inputs=True, polarity="positive"
        ).attribute(clips, labels),
        "integrated_gradients": lambda: va.IntegratedGradients(
            model, steps=16, baseline="black", mean=mean, std=std, max_batch_size=16
        ).attribute(clips, labels),
        "smoothgrad": lambda: va.SmoothGrad(
            va.Saliency(model, polarity="absolute"), n=16, variant="square"
        ).attribute(clips, labels),
        "grad_cam": lambda: va.GradCAM3D(model, layer, normalize=True).attribute(clips, labels),
        "ep2d": lambda: va.ExtremalPerturbation2D(model, **fast).attribute(clips, labels, areas=0.1),
        "ep3d": lambda: va.ExtremalPerturbation3D(model, **fast).attribute(clips, labels, areas=0.1),
        "step": lambda: va.STEP(model, **fast).attribute(clips, labels, areas=[0.05, 0.1]),
    }

    names = [demo_model.CLASS_NAMES[int(i)] for i in labels]
    print(f"{'method':<21} {'shape':<22} {'seconds':>7}  mass on the object")
    for name, compute in methods.items():
        start = time.perf_counter()
        maps = compute()
        seconds = time.perf_counter() - start
        inside = mass_in_ground_truth(maps, gt)  # (2,) share of positive mass on the red square
        is_mask = name in ("ep2d", "ep3d", "step")  # masks in [0, 1]: draw them on a fixed scale
        save_sheet(
            out / f"{name}.png",
            clips,
            maps,
            caption=[SheetCaption(target=n, method=name) for n in names],
            style=OverlayStyle(value_range=(0.0, 1.0) if is_mask else None, mean=mean, std=std),
        )
        shape = str(tuple(maps.shape))
        print(f"{name:<21} {shape:<22} {seconds:7.2f}  {inside.mean().item():.2f}")
    with torch.no_grad():
        pred = model(clips).argmax(1)
    print("true:", names, "predicted:", [demo_model.CLASS_NAMES[int(i)] for i in pred])
    print(f"sheets written to {out}/")


if __name__ == "__main__":
    main()
