"""Compare attribution methods with the metrics of `videoattr.metrics` on clips with ground truth.

Run: ``python examples/compare_methods.py [--clips 4] [--iterations 40]``.

The clips come from `videoattr.datasets.SyntheticMotion`: the class is the direction in which
a red square moves, so the pixels that decide it are known exactly (``batch.masks``), and in some
clips the square is visible in only part of the frames (``batch.evidence_frames``). For every method
the script prints, averaged over the clips:

* ``deletion`` / ``insertion``: area under the target-probability curve as the most attributed voxels
  are blurred away (lower is better) or restored into a blurred clip (higher is better);
* ``pointing``: share of frames whose attribution peak lies on the square;
* ``mass``: share of the positive attribution inside the square;
* ``frame``: share of clips whose most attributed frame shows the square.

The numbers are for a few clips and few iterations, to show the API; ``benchmarks/`` and the
evaluation page of the docs have the real comparison. CPU, under a minute.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import Tensor

import videoattr as va
from videoattr import demo_model, metrics
from videoattr.datasets import SyntheticMotion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=4, help="number of clips (default 4)")
    parser.add_argument("--iterations", type=int, default=40, help="STEP iterations (Adam)")
    parser.add_argument("--steps", type=int, default=10, help="points of the deletion curves")
    args = parser.parse_args()
    torch.manual_seed(0)

    model = demo_model.load_demo_model()
    data = SyntheticMotion(seed=21, evidence="mixed", **demo_model.DATASET_KWARGS)
    batch = data.sample(args.clips)
    x, y = batch.clips, batch.labels  # (N, 3, 16, 56, 56), (N,)

    methods: dict[str, Callable[[], Tensor]] = {
        "saliency": lambda: va.Saliency(model, polarity="absolute").attribute(x, y),
        "integrated_gradients": lambda: va.IntegratedGradients(
            model,
            steps=10,
            baseline="black",
            mean=demo_model.MEAN,
            std=demo_model.STD,
            polarity="positive",
        ).attribute(x, y),
        "smoothgrad": lambda: va.SmoothGrad(
            va.Saliency(model, polarity="absolute"), n=10, variant="square"
        ).attribute(x, y),
        "grad_cam": lambda: va.GradCAM3D(model, demo_model.GRADCAM_LAYER).attribute(x, y),
        "step": lambda: va.STEP(
            model, max_iter=args.iterations, optimizer="adam", progress=False
        ).attribute(x, y, areas=0.1),
        "random (chance)": lambda: torch.rand(x.shape[0], 1, *x.shape[2:]),
    }

    header = (
        f"{'method':<21} {'deletion':>9} {'insertion':>9} {'pointing':>9} {'mass':>6} {'frame':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, compute in methods.items():
        maps = compute()  # (N, 1, T, H, W)
        dele = metrics.deletion(model, x, maps, y, steps=args.steps)
        ins = metrics.insertion(model, x, maps, y, steps=args.steps)
        point = metrics.pointing_game(maps, batch.masks, per="frame")
        mass = metrics.mass_in_ground_truth(maps, batch.masks)
        frame = metrics.temporal_grounding(maps, batch.evidence_frames)
        print(
            f"{name:<21} {dele.auc.mean().item():9.3f} {ins.auc.mean().item():9.3f} "
            f"{point.accuracy:9.2f} {mass.mean().item():6.2f} {frame.float().mean().item():6.2f}"
        )


if __name__ == "__main__":
    main()
