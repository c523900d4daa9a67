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


class SelfAttention(nn.Module):
    """Multi-head self-attention that computes ``softmax(QK^T / sqrt(d))`` explicitly."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        probs = (q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5).softmax(dim=-1)
        out: Tensor = self.proj((probs @ v).transpose(1, 2).reshape(b, n, d))
        return out


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        out: Tensor = x + self.mlp(self.norm2(x))
        return out


class TinyAttentionTransformer(nn.Module):
    """A two-block video transformer with a class token whose attention the attention methods read.

    Tubelets of ``(2, 4, 4)`` become tokens ``(B, 1 + T' H' W', D)`` (time-major); it declares its
    ``attention_layout`` like a zoo adapter does.
    """

    def __init__(self, num_classes: int = 5, dim: int = 16, depth: int = 2, seed: int = 0) -> None:
        from videoattr.core.attention import AttentionLayout, AttentionTap
        from videoattr.zoo.tokens import TokenGrid

        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Conv3d(3, dim, (2, 4, 4), stride=(2, 4, 4))
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        self.blocks = nn.Sequential(*(AttentionBlock(dim, 2) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.attention_layout = AttentionLayout(
            taps=tuple(AttentionTap(f"blocks.{i}.attn") for i in range(depth)),
            tokens=TokenGrid((2, 4, 4), prefix_tokens=1),
            name="tiny transformer",
        )

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1)
        out: Tensor = self.head(self.norm(self.blocks(tokens))[:, 0])
        return out
