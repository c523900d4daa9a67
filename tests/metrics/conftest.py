"""Small hand-made models and clips for the metric tests."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn


class RegionModel(nn.Module):
    """Two-class model: logit 0 = ``scale * mean(x over the channels and a fixed region)``, logit 1 = 0.

    So the probability of class 0 is ``sigmoid(scale * mean(x in region))``: deleting (zeroing or
    blurring) the region's voxels lowers it, other voxels do not matter.
    """

    def __init__(self, region: Tensor, scale: float = 4.0) -> None:
        super().__init__()
        self.register_buffer("region", region.float())
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        region = self.get_buffer("region")
        s = (x * region).sum(dim=(1, 2, 3, 4)) / (region.sum() * x.shape[1])
        return torch.stack([self.scale * s, torch.zeros_like(s)], dim=1)


def devices() -> list[str]:
    """The CPU, and CUDA where available (the metrics are device-agnostic)."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.fixture
def region_setup() -> tuple[RegionModel, Tensor, Tensor]:
    """A model that looks at a 4x4 square in frames 2-3 of an 8-frame 16x16 clip, the clip and the mask."""
    region = torch.zeros(1, 1, 8, 16, 16)
    region[..., 2:4, 4:8, 8:12] = 1
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(2, 3, 8, 16, 16, generator=g)
    x = x + 2.0 * region  # bright evidence, which blurring weakens
    return RegionModel(region), x, region.bool().expand(2, 1, 8, 16, 16).clone()
