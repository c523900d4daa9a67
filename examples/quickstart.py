"""Quick start: explain the shipped demo model on a generated clip with three methods (CPU, < 1 min).

Run: ``python examples/quickstart.py [--out quickstart_out]``. It prints what each method found and
writes a PNG sheet per method (input / heatmap / preserved frames) that you can open.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import videoattr as va
from videoattr import demo_model
from videoattr.datasets import SyntheticMotion
from videoattr.viz import OverlayStyle, SheetCaption, save_sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="quickstart_out")
    parser.add_argument(
        "--iterations", type=int, default=None, help="STEP iterations (default: the fast preset's)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = demo_model.load_demo_model()  # a small 3-D CNN shipped with the package
    batch = SyntheticMotion(seed=11, **demo_model.DATASET_KWARGS).sample(2)
    clips, labels = batch.clips, batch.labels  # (2, 3, 16, 56, 56), (2,)
    names = demo_model.CLASS_NAMES
    with torch.no_grad():
        pred = model(clips).argmax(1)
    print("true:", [names[int(i)] for i in labels], " predicted:", [names[int(i)] for i in pred])

    # STEP's fast preset: 20 Adam iterations from the clip's gradient map (the paper's: 2000 SGD)
    step = va.STEP(model, preset="fast", progress=False)
    if args.iterations is not None:
        step = step.replace(max_iter=args.iterations)
    methods: dict[str, torch.Tensor] = {
        "saliency": va.Saliency(model, polarity="absolute").attribute(clips, labels),
        "grad_cam": va.GradCAM3D(model, layer=demo_model.GRADCAM_LAYER, normalize=True).attribute(
            clips, labels
        ),
        "step": step.attribute(clips, labels, areas=0.1),
    }
    with torch.no_grad():  # p(target | clip) of each clip, written in the sheets' headers
        target_probs = torch.softmax(model(clips), dim=1).gather(1, labels[:, None])[:, 0]
    gt = batch.masks.float()  # (2, 1, T, H, W) ground truth: where the moving red square is
    for name, maps in methods.items():
        # fraction of the attribution mass that lies on the object that decides the class
        inside = float((maps.clamp(min=0) * gt).sum() / maps.clamp(min=0).sum())
        value_range = (0.0, 1.0) if name == "step" else None  # masks: a fixed scale
        path = out / f"{name}.png"
        save_sheet(
            path,
            clips,
            maps,
            caption=[
                SheetCaption(target=names[int(i)], target_probability=float(p), method=name)
                for i, p in zip(labels, target_probs, strict=True)
            ],
            style=OverlayStyle(value_range=value_range, mean=demo_model.MEAN, std=demo_model.STD),
        )
        print(
            f"{name:<9} maps {tuple(maps.shape)}  mass on the moving object: {inside:.2f}  -> {path}"
        )


if __name__ == "__main__":
    main()
