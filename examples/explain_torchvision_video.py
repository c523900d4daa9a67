"""Explain a torchvision video model on a video file: read, preprocess, attribute, write a GIF.

Run: ``python examples/explain_torchvision_video.py [--video clip.mp4] [--weights r2plus1d.pth]``.

Without ``--video`` the script first writes a small synthetic video (``<out>/input.mp4``, a red square
moving among distractors) with `videoattr.io.write_video`, so it needs no data. It then
builds torchvision's R(2+1)D-18 through `videoattr.zoo` (16 frames, resize to 128 x 171, centre
crop 112, the Kinetics mean and std), reads the video with the model's frame sampling and explains
the top class with Grad-CAM on ``layer4`` and, with ``--iterations > 0``, STEP.

**Weights.** Without ``--weights`` the network has *random* weights: the script runs end to end, but
the maps explain an untrained network. Pass a local state-dict file (for instance torchvision's
``r2plus1d_18-91a641e6.pth``) to explain the real model; nothing is ever downloaded.

Outputs in ``--out``: ``grad_cam.gif`` (the heatmap over the frames), ``grad_cam.png`` (a sheet) and,
for STEP, ``step.png``. CPU: about half a minute with the defaults.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

import videoattr as va
from videoattr import io, zoo
from videoattr.datasets import SyntheticMotion
from videoattr.viz import OverlayStyle, SheetCaption, panels, save_gif, save_sheet


def write_synthetic_video(path: Path) -> Path:
    """Write 32 frames of a 128 x 128 synthetic clip as an MP4 and return its path."""
    sample = SyntheticMotion(clip_len=32, size=128, seed=0, evidence="full").render(0)
    return io.write_video(path, sample.frames, fps=8)  # frames: (32, 128, 128, 3) uint8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--video", default=None, help="a video file or frame folder (default: generated)"
    )
    parser.add_argument(
        "--weights", default=None, help="local r2plus1d_18 weights (default: random)"
    )
    parser.add_argument("--model", default="r2plus1d_18", help="zoo name (default: r2plus1d_18)")
    parser.add_argument(
        "--iterations", type=int, default=0, help="STEP iterations (default 0: skip)"
    )
    parser.add_argument("--out", default="torchvision_video_out", help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    if args.weights is None:
        print(
            f"note: no --weights given, so {args.model} has RANDOM weights; the maps below explain an "
            "untrained network. Pass a local weights file to explain the trained model.",
            file=sys.stderr,
        )
    adapter = zoo.load(args.model, weights=args.weights).eval()  # nn.Module: (B,3,T,H,W) -> (B,400)
    video = Path(args.video) if args.video else write_synthetic_video(out / "input.mp4")

    frames = io.read_video(video)  # (N, H, W, 3) uint8, every frame
    clip = adapter.preprocess(frames, sample=True)  # (1, 3, 16, 112, 112), the model's sampling
    with torch.no_grad():
        probs = torch.softmax(adapter(clip), dim=1)[0]
    top = int(probs.argmax())
    print(f"{video}: {len(frames)} frames -> clip {tuple(clip.shape)}")
    print(f"top class: {adapter.class_name(top)!r} (p = {probs[top]:.3f})")

    if adapter.layer is None:
        raise SystemExit(f"{args.model} has no default Grad-CAM layer; choose another --model")
    cam = va.GradCAM3D(adapter, layer=adapter.layer, reshape=adapter.reshape, normalize=True)
    maps = cam.attribute(clip, target=top)  # (1, 1, 16, 112, 112) in [0, 1]
    style = OverlayStyle(mean=adapter.mean, std=adapter.std)
    caption = SheetCaption(  # what the pictures show; the target here is the top class
        target=adapter.class_name(top),
        target_probability=float(probs[top]),
        prediction=adapter.class_name(top),
        prediction_probability=float(probs[top]),
        method="grad_cam",
        settings={"layer": adapter.layer},
        random_weights=args.weights is None,
    )
    video_with_caption = panels(clip, maps, style=style, caption=caption)  # (16, H', W', 3)
    gif = save_gif(out / "grad_cam.gif", video_with_caption)
    save_sheet(out / "grad_cam.png", clip, maps, caption=caption, style=style)
    print(f"grad_cam ({adapter.layer}) -> {gif}, {out / 'grad_cam.png'}")

    if args.iterations > 0:
        step = va.STEP(adapter, max_iter=args.iterations, optimizer="adam", progress=False)
        masks = step.attribute(clip, target=top, areas=0.1)  # (1, 1, 16, 112, 112) in [0, 1]
        settings = {"area": 0.1, "iterations": args.iterations, "optimizer": "adam"}
        step_caption = replace(caption, method="step", settings=settings)
        save_sheet(
            out / "step.png",
            clip,
            masks,
            caption=step_caption,
            style=style.replace(value_range=(0.0, 1.0)),
        )
        print(f"step ({args.iterations} Adam iterations) -> {out / 'step.png'}")


if __name__ == "__main__":
    main()
