"""The demo model: a small 3-D CNN trained on [`SyntheticMotion`][videoattr.datasets.SyntheticMotion].

It classifies the direction in which the red square of a synthetic clip moves (right, down, left, up) from
``(B, 3, 16, 56, 56)`` clips normalised with `MEAN` and `STD`. The weights ship with the package
(``videoattr/assets/demo_model.pt``, about 0.5 MB) and were made by ``examples/train_demo_model.py``; the
command line's ``demo`` and the benchmarks use it, so everything can be tried without downloading anything.

Example:
    >>> from videoattr.datasets import SyntheticMotion
    >>> model = load_demo_model()
    >>> batch = SyntheticMotion(seed=123, **DATASET_KWARGS).sample(4)
    >>> model(batch.clips).argmax(1).shape
    torch.Size([4])
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.datasets.synthetic import MEAN, STD

#: Class names, in the order of the model's logits.
CLASS_NAMES: tuple[str, ...] = ("right", "down", "left", "up")
#: Frames per clip.
CLIP_LEN = 16
#: Frame height and width in pixels.
SIZE = 56
#: Default layer for Grad-CAM (its output is ``(B, 64, 4, 7, 7)``).
GRADCAM_LAYER = "features.block4"
#: The [`SyntheticMotion`][videoattr.datasets.SyntheticMotion] options the model was trained with.
DATASET_KWARGS: dict[str, Any] = {
    "num_classes": len(CLASS_NAMES),
    "clip_len": CLIP_LEN,
    "size": SIZE,
}
#: File name of the checkpoint inside ``videoattr/assets``.
CHECKPOINT = "demo_model.pt"

__all__ = [
    "CHECKPOINT",
    "CLASS_NAMES",
    "CLIP_LEN",
    "DATASET_KWARGS",
    "GRADCAM_LAYER",
    "MEAN",
    "SIZE",
    "STD",
    "DemoNet",
    "load_demo_model",
]


def _block(c_in: int, c_out: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=False),
    )


class DemoNet(nn.Module):
    """A four-block 3-D CNN, ``(B, 3, T, H, W) -> (B, num_classes)`` logits.

    Blocks of 3x3x3 convolution, batch norm and ReLU with 12, 24, 48, 64 channels. The first two convolutions
    stride ``(1, 2, 2)``, the third ``2`` and the fourth ``(2, 1, 1)``, so a ``16 x 56 x 56`` clip gives
    ``(B, 64, 4, 7, 7)`` features at ``features.block4`` before global average pooling and a linear
    classifier. About 0.12 M parameters; small enough to train, and to run extremal perturbation on, in CPU
    minutes.

    Args:
        num_classes: number of output classes. Default 4.
    """

    def __init__(self, num_classes: int = len(CLASS_NAMES)) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("block1", _block(3, 12, (1, 2, 2)))
        self.features.add_module("block2", _block(12, 24, (1, 2, 2)))
        self.features.add_module("block3", _block(24, 48, (2, 2, 2)))
        self.features.add_module("block4", _block(48, 64, (2, 1, 1)))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, 3, T, H, W)`` clips to ``(B, num_classes)`` logits."""
        out: Tensor = self.classifier(self.pool(self.features(x)).flatten(1))
        return out


def load_demo_model(device: torch.device | str | None = None) -> DemoNet:
    """Build [`DemoNet`][videoattr.demo_model.DemoNet] and load the shipped weights, in eval mode.

    Args:
        device: where to put the model; ``None`` keeps it on the CPU.

    Raises:
        FileNotFoundError: the checkpoint is missing from the installed package (re-create it with
            ``python examples/train_demo_model.py``).
    """
    path = resources.files("videoattr").joinpath("assets", CHECKPOINT)
    if not path.is_file():
        raise FileNotFoundError(
            f"the demo model's weights are missing ({path}); re-create them with "
            "`python examples/train_demo_model.py`"
        )
    with path.open("rb") as f:
        state = torch.load(f, map_location="cpu", weights_only=True)
    model = DemoNet(num_classes=len(CLASS_NAMES))
    model.load_state_dict(state)
    model.eval()
    if device is not None:
        model.to(device)
    return model
