"""Dimension-agnostic tensor operations shared by methods, metrics and visualisation."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Polarity = Literal["signed", "positive", "negative", "absolute"]
Reduction = Literal["sum", "mean", "max"]

POLARITIES: tuple[str, ...] = ("signed", "positive", "negative", "absolute")
REDUCTIONS: tuple[str | None, ...] = ("sum", "mean", "max", None)


def apply_polarity(attr: Tensor, polarity: Polarity) -> Tensor:
    """Keep the signed values, their positive part, the magnitude of their negative part, or ``|attr|``."""
    if polarity == "signed":
        return attr
    if polarity == "positive":
        return attr.clamp(min=0)
    if polarity == "negative":
        return (-attr).clamp(min=0)
    if polarity == "absolute":
        return attr.abs()
    raise ValueError(f"polarity must be one of {list(POLARITIES)}; got {polarity!r}")


def reduce_channels(attr: Tensor, reduction: Reduction | None) -> Tensor:
    """Reduce ``(B, C, T, H, W)`` over channels to ``(B, 1, T, H, W)``; ``None`` returns ``attr``."""
    if reduction is None:
        return attr
    if reduction == "sum":
        return attr.sum(dim=1, keepdim=True)
    if reduction == "mean":
        return attr.mean(dim=1, keepdim=True)
    if reduction == "max":
        return attr.amax(dim=1, keepdim=True)
    raise ValueError(f"reduction must be one of {list(REDUCTIONS)}; got {reduction!r}")


def resize_to_clip(maps: Tensor, size: tuple[int, int, int]) -> Tensor:
    """Resize ``(B, D, T', H', W')`` maps to ``(B, D, T, H, W)`` by trilinear interpolation.

    Uses ``align_corners=False`` (the same convention as Captum's ``LayerAttribution.interpolate``).
    """
    if tuple(maps.shape[2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="trilinear", align_corners=False)


def normalize_per_clip(maps: Tensor, eps: float = 1e-12) -> Tensor:
    """Min-max normalise each clip of a ``(B, ...)`` tensor to ``[0, 1]`` independently.

    A constant clip becomes all zeros.
    """
    flat = maps.flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    out = (flat - lo) / (hi - lo).clamp_min(eps)
    return out.view_as(maps)


def gaussian_kernel1d(
    sigma: float, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Normalised 1-D Gaussian taps ``exp(-(i / (sqrt(2) sigma + eps))^2)`` for ``|i| <= ceil(4 sigma)``.

    ``sigma = 0`` gives the single tap ``[1]`` (identity).
    """
    width = math.ceil(4 * sigma)
    eps = torch.finfo(torch.float32).eps
    i = torch.arange(-width, width + 1, device=device, dtype=dtype)
    taps = torch.exp(-((i / (math.sqrt(2) * sigma + eps)) ** 2))
    return taps / taps.sum()


def gaussian_blur_frames(x: Tensor, sigma: float) -> Tensor:
    """Blur every frame of ``x`` (``(B, C, T, H, W)``) spatially with a separable Gaussian of std ``sigma``.

    Zero padding of ``ceil(4 sigma)`` pixels (borders darken towards 0), vertical pass then horizontal.
    """
    if sigma <= 0:
        return x
    b, c, t, h, w = x.shape
    taps = gaussian_kernel1d(sigma, x.device, x.dtype)
    width = (taps.numel() - 1) // 2
    frames = x.permute(0, 2, 1, 3, 4).reshape(b * t * c, 1, h, w)
    frames = F.conv2d(frames, taps.view(1, 1, -1, 1), padding=(width, 0))
    frames = F.conv2d(frames, taps.view(1, 1, 1, -1), padding=(0, width))
    return frames.view(b, t, c, h, w).permute(0, 2, 1, 3, 4).contiguous()
