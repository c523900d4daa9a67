"""Dimension-agnostic tensor operations shared by methods, metrics and visualisation."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
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

    Zero padding of ``ceil(4 sigma)`` pixels (borders darken towards 0), vertical pass then horizontal:
    the sums of a convolution with zero padding, computed as products with banded matrices, which is
    10-20x faster on the CPU than ``conv2d`` for the wide kernels of the perturbation pyramid (161 taps
    at ``sigma = 20``). Each clip is blurred on its own, so a clip's result does not depend on the
    others in the batch; the blur runs in ``x``'s dtype, also under autocast. ``sigma <= 0`` returns
    ``x``.
    """
    if sigma <= 0:
        return x
    taps = gaussian_kernel1d(sigma, x.device, x.dtype)
    with _without_autocast(x.device):
        down = _band_matrix(taps, x.shape[-2])
        across = _band_matrix(taps, x.shape[-1]).transpose(0, 1)
        # A fresh (aligned) copy of each clip: BLAS may take another path for another alignment.
        blurred = [torch.matmul(torch.matmul(down, clip.clone()), across) for clip in x.unbind(0)]
    return torch.stack(blurred)


def gaussian_blur_levels(
    clip: Tensor, sigmas: Sequence[float], out: Tensor | None = None
) -> Tensor:
    """Every frame of one clip blurred at several widths: the levels of a blur pyramid, last axis.

    Level ``l`` is the clip blurred as [`gaussian_blur_frames`][videoattr.core.ops.gaussian_blur_frames]
    blurs it with ``sigmas[l]`` (zero padding of ``ceil(4 sigma)`` pixels; ``sigma <= 0`` keeps the
    clip), up to float rounding: the vertical passes of all widths are one product with the banded
    matrices stacked, the horizontal passes one batched product, which builds the perturbation
    pyramid's 8 levels 1.4-2.1x faster on the CPU than a blur per width
    (``benchmarks/perturbation.py --sections setup``). Runs in the clip's dtype, also
    under autocast.

    Args:
        clip: ``(C, T, H, W)`` one clip.
        sigmas: the ``L`` widths in pixels.
        out: a ``(C, T, H, W, L)`` tensor to write the levels into (it may be a view, e.g. one
            clip's block of a pyramid). Default: a new one.

    Returns:
        ``(C, T, H, W, L)`` the levels (``out`` when given).
    """
    c, t, h, w = clip.shape
    if out is None:
        out = clip.new_empty((c, t, h, w, len(sigmas)))
    frames = c * t
    levels = out.view(frames, h, w, len(sigmas))
    blurred = [j for j, sigma in enumerate(sigmas) if sigma > 0]
    for j, sigma in enumerate(sigmas):
        if sigma <= 0:
            levels[..., j].copy_(clip.reshape(frames, h, w))
    if not blurred:
        return out
    k = len(blurred)
    with _without_autocast(clip.device):
        widths = tuple(float(sigmas[j]) for j in blurred)
        down, across = _level_matrices(widths, h, w, clip.device, clip.dtype)
        # rows of every frame side by side: (H, frames * W), a fresh (aligned) copy
        columns = clip.reshape(frames, h, w).transpose(0, 1).reshape(h, frames * w)
        vertical = torch.matmul(down, columns).view(k, h * frames, w)
        both = torch.bmm(vertical, across).view(k, h, frames, w)
    if blurred == list(range(blurred[0], blurred[0] + k)):  # one pass over the levels' memory
        levels[..., blurred[0] : blurred[0] + k].copy_(both.permute(2, 1, 3, 0))
    else:
        for i, j in enumerate(blurred):
            levels[..., j].copy_(both[i].transpose(0, 1))
    return out


@functools.lru_cache(maxsize=8)
def _level_matrices(
    sigmas: tuple[float, ...], h: int, w: int, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """The banded matrices of `gaussian_blur_levels`: ``(k H, H)`` stacked vertical passes and
    ``(k, W, W)`` transposed horizontal ones (kept for the next clips of the same size; never
    written to)."""
    taps = [gaussian_kernel1d(sigma, device, dtype) for sigma in sigmas]
    down = torch.cat([_band_matrix(v, h) for v in taps])
    across = torch.stack([_band_matrix(v, w).transpose(0, 1) for v in taps]).contiguous()
    return down, across


def _band_matrix(taps: Tensor, size: int) -> Tensor:
    """``(size, size)`` matrix ``K[i, j] = taps[j - i + r]`` for ``|j - i| <= r``, else 0 (``2r + 1`` taps).

    ``K @ v`` is the correlation of ``v`` with ``taps`` under zero padding of ``r`` entries.
    """
    radius = (taps.numel() - 1) // 2
    index = torch.arange(size, device=taps.device)
    offset = index.view(1, -1) - index.view(-1, 1) + radius
    inside = (offset >= 0) & (offset < taps.numel())
    return torch.where(inside, taps[offset.clamp(0, taps.numel() - 1)], taps.new_zeros(()))


def _without_autocast(device: torch.device) -> AbstractContextManager[object]:
    """A context that turns autocast off on ``device`` (a no-op where autocast does not exist)."""
    available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    if available(device.type) if available is not None else device.type in ("cpu", "cuda"):
        return torch.autocast(device_type=device.type, enabled=False)
    return nullcontext()
