"""Small models and clips shared by the tests (built locally, never downloaded)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoattr.demo_transformer import DemoTransformer
from videoattr.zoo import TokenGrid, VideoAdapter, wrap

#: The tiny attention transformer's input clip ``(T, H, W)``, tubelet, blocks and heads.
TINY_ATTENTION_CLIP = (4, 16, 16)
TINY_ATTENTION_TUBELET = (2, 4, 4)
TINY_ATTENTION_DEPTH = 2
TINY_ATTENTION_HEADS = 2
#: Its tokens: one class token, then the ``(2, 4, 4)`` grid in time-major order (33 tokens).
TINY_ATTENTION_TOKENS = TokenGrid(TINY_ATTENTION_TUBELET, prefix_tokens=1, order="thw")
#: The modules whose outputs are its attention probabilities ``(B, 2, 33, 33)``, first block first.
TINY_ATTENTION_LAYERS = tuple(f"blocks.{i}.attn.softmax" for i in range(TINY_ATTENTION_DEPTH))


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


def tiny_attention_transformer(num_classes: int = 5, seed: int = 0) -> DemoTransformer:
    """A tiny video transformer with explicit softmax attention and random weights, in eval mode.

    The demo transformer's architecture (`videoattr.demo_transformer.DemoTransformer`) at toy size:
    ``(B, 3, 4, 16, 16)`` clips, ``2 x 4 x 4`` tubelets (a ``(2, 4, 4)`` grid of 32 tokens after one
    class token), width 16, 2 blocks of 2 heads, a classifier on the class token. The attention
    probabilities are the outputs of `TINY_ATTENTION_LAYERS`; the tokens of every block follow
    `TINY_ATTENTION_TOKENS`. The position embedding and the class token are drawn with std 0.5, the
    query/key/value weights with std 0.3 (larger than a training init), so the attention of random
    weights is far from uniform (a row's largest weight is about 0.2 on average, 7 times uniform)
    without saturating.
    """
    torch.manual_seed(seed)
    t, h, _w = TINY_ATTENTION_CLIP
    model = DemoTransformer(
        num_classes,
        clip_len=t,
        size=h,
        tubelet=TINY_ATTENTION_TUBELET,
        dim=16,
        depth=TINY_ATTENTION_DEPTH,
        heads=TINY_ATTENTION_HEADS,
    )
    with torch.no_grad():
        model.pos_embed.normal_(0.0, 0.5)
        model.cls_token.normal_(0.0, 0.5)
        for block in model.blocks:
            block.attn.qkv.weight.normal_(0.0, 0.3)
    return model.eval()


def tiny_attention_adapter(num_classes: int = 5, seed: int = 0) -> VideoAdapter:
    """`tiny_attention_transformer` as a zoo adapter: Grad-CAM layer ``model.blocks.1.norm1`` (the tokens
    entering the last block) with the token grid `TINY_ATTENTION_TOKENS`."""
    t, h, _w = TINY_ATTENTION_CLIP
    return wrap(
        tiny_attention_transformer(num_classes, seed),
        mean=(0.45, 0.45, 0.45),
        std=(0.25, 0.25, 0.25),
        clip_len=t,
        size=h,
        layer=f"blocks.{TINY_ATTENTION_DEPTH - 1}.norm1",
        tokens=TINY_ATTENTION_TOKENS,
        name="tiny-attention",
    ).eval()


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
