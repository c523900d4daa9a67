"""Small models and clips shared by the tests (built locally, never downloaded)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def tiny_cnn3d(num_classes: int = 5, seed: int = 0) -> nn.Sequential:
    """The reference vectors' architecture: a two-layer 3-D CNN, ``(B, 3, T, H, W) -> (B, K)``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv3d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


class TinyVideoTransformer(nn.Module):
    """A one-block video transformer on ``(B, 3, T, H, W)`` with tubelet tokens ``(B, N, D)``.

    ``blocks.0`` outputs tokens ``(B, 1 + T' H' W', D)`` with a class token first, the layout Hugging
    Face video transformers use.
    """

    def __init__(
        self, num_classes: int = 5, dim: int = 16, tubelet: tuple[int, int, int] = (2, 4, 4)
    ) -> None:
        super().__init__()
        self.tubelet = tubelet
        self.embed = nn.Conv3d(3, dim, tubelet, stride=tubelet)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Sequential(
            nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        )
        self.head = nn.Linear(dim, num_classes)
        self.grid: tuple[int, int, int] = (0, 0, 0)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.embed(x)
        self.grid = (tokens.shape[2], tokens.shape[3], tokens.shape[4])
        tokens = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1)
        out: Tensor = self.head(self.blocks(tokens)[:, 0])
        return out


def clip(b: int = 2, t: int = 8, h: int = 32, w: int = 32, seed: int = 0, c: int = 3) -> Tensor:
    """A random normalised clip batch ``(B, C, T, H, W)``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, t, h, w, generator=g)
