"""Token layouts of video transformers: how a layer's tokens map onto a ``(T', H', W')`` grid."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

__all__ = ["TokenGrid", "TokenOrder"]

TokenOrder = Literal["thw", "hwt"]


@dataclass(frozen=True)
class TokenGrid:
    """How a transformer layer's tokens map onto a ``(T', H', W')`` grid.

    Attributes:
        stride: input frames/pixels per token along ``(T, H, W)`` at the hooked layer.
        prefix_tokens: class (or other) tokens before the patch tokens, dropped.
        order: ``"thw"``: tokens ordered time-major; ``"hwt"``: space-major (TimeSformer).
        channels_last: the layer outputs a ``(B, T', H', W', D)`` grid (Video Swin) instead of tokens.
        frames_in_batch: the layer outputs ``(B*T', 1 + H'W', D)`` (frames folded into the batch).
    """

    stride: tuple[int, int, int]
    prefix_tokens: int = 1
    order: TokenOrder = "thw"
    channels_last: bool = False
    frames_in_batch: bool = False

    def grid(self, size: tuple[int, int, int]) -> tuple[int, int, int]:
        """The token grid ``(T', H', W')`` for an input clip of ``(T, H, W)``."""
        return (
            math.ceil(size[0] / self.stride[0]),
            math.ceil(size[1] / self.stride[1]),
            math.ceil(size[2] / self.stride[2]),
        )

    def to_volume(self, tokens: Tensor, size: tuple[int, int, int]) -> Tensor:
        """Turn the layer output into ``(B, D, T', H', W')`` given the input clip's ``(T, H, W)``."""
        if self.channels_last:
            if tokens.dim() != 5:
                raise ValueError(
                    f"expected a (B, T', H', W', D) layer output; got {tuple(tokens.shape)}"
                )
            return tokens.permute(0, 4, 1, 2, 3)
        t, h, w = self.grid(size)
        if tokens.dim() != 3:
            raise ValueError(f"expected a (B, N, D) token layer output; got {tuple(tokens.shape)}")
        if self.frames_in_batch:
            patches = tokens[:, self.prefix_tokens :]
            if patches.shape[1] != h * w or patches.shape[0] % t:
                raise ValueError(
                    f"cannot arrange {tuple(tokens.shape)} tokens on a {(t, h, w)} grid "
                    f"(stride {self.stride}, {self.prefix_tokens} prefix tokens per frame)"
                )
            vol = patches.reshape(-1, t, h, w, patches.shape[-1])
            return vol.permute(0, 4, 1, 2, 3)
        patches = tokens[:, self.prefix_tokens :]
        if patches.shape[1] != t * h * w:
            raise ValueError(
                f"cannot arrange {patches.shape[1]} tokens (after dropping {self.prefix_tokens} prefix "
                f"tokens) on the {(t, h, w)} grid of a {size} clip with stride {self.stride}"
            )
        b, _, d = patches.shape
        if self.order == "thw":
            return patches.reshape(b, t, h, w, d).permute(0, 4, 1, 2, 3)
        return patches.reshape(b, h, w, t, d).permute(0, 4, 3, 1, 2)
