"""The one preprocessing of videoattr: frames to a normalised clip, and back.

[`to_clip`][videoattr.io.to_clip] is used by the model adapters ([`Preprocessing`][videoattr.zoo.Preprocessing] is a stored
set of its arguments) and by hand. For uint8 frames it resizes the ``0..255`` values and rounds
them back to integers before scaling to ``[0, 1]``, exactly as torchvision's video presets
(``weights.transforms()``) do; ``antialias=False`` then reproduces those presets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from videoattr.core.validation import describe
from videoattr.io.frames import (
    Size,
    _check_layout,
    as_frames,
    crop_box,
    resize_images,
    resized_size,
)

__all__ = ["denormalize", "to_clip"]


def to_clip(
    frames: Tensor | np.ndarray,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    size: Size | Sequence[int] | None = None,
    crop: Size | Sequence[int] | None = None,
    antialias: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Turn frames into a normalised float clip ``(B, 3, T, H, W)``.

    Frames are resized (``size``, bilinear; uint8 frames are rounded back to integers after the
    resize, as torchvision does), centre cropped (``crop``), scaled to ``[0, 1]`` and normalised
    per channel as ``(x - mean) / std``. The preprocessing of the reference implementation
    (Li et al., WACV 2021) for R(2+1)D-18 is ``to_clip(frames, mean, std, size=(128, 171),
    crop=112)``; torchvision's ``R2Plus1D_18_Weights.DEFAULT.transforms()`` is ``to_clip(frames,
    mean, std, size=(128, 171), crop=112, antialias=False)``.

    Args:
        frames: uint8 ``(T, H, W, 3)`` (gives ``B = 1``) or ``(B, T, H, W, 3)``; grey frames
            ``(T, H, W, 1)`` or ``(T, H, W)`` are repeated to RGB. Float frames are taken to be in
            ``[0, 1]`` and resized without rounding.
        mean: per-channel mean of ``[0, 1]`` pixels; default zeros.
        std: per-channel standard deviation, positive; default ones.
        size: optional resize, an int (short side, aspect ratio kept; also ``(s,)``) or ``(h, w)``.
        crop: optional centre crop, an int or ``(h, w)``, not larger than the resized frames.
        antialias: low-pass filter when shrinking. Default ``True``; torchvision's video presets
            (and so the zoo's torchvision adapters) use ``False``.
        device: where the clip goes; default the frames' device.
        dtype: floating dtype of the clip; default ``torch.float32``.

    Returns:
        Float clip ``(B, 3, T, h, w)``.

    Raises:
        TypeError: frames that are neither uint8 nor floating point.
        ValueError: a wrong frame shape, ``mean``/``std`` without 3 entries, a non-positive
            ``std`` entry, or a crop larger than the frames.

    Example:
        >>> frames = torch.zeros(4, 20, 30, 3, dtype=torch.uint8)
        >>> to_clip(frames, size=16, crop=12).shape
        torch.Size([1, 3, 4, 12, 12])
    """
    x = _frames_tensor(frames)
    if x.dim() == 4:
        x = x.unsqueeze(0)
    if device is not None:
        x = x.to(device)
    is_uint8 = x.dtype == torch.uint8
    m, s = _mean_std(mean, std, x.device, dtype)
    b, t, h, w, _ = x.shape
    images = x.reshape(b * t, h, w, 3).permute(0, 3, 1, 2).to(dtype)
    if size is not None:
        out_size = resized_size(h, w, size)
        images = resize_images(images, out_size, antialias=antialias, round_to_uint8=is_uint8)
    if crop is not None:
        top, left, ch, cw = crop_box(images.shape[-2], images.shape[-1], crop)
        images = images[..., top : top + ch, left : left + cw]
    if is_uint8:
        images = images / 255.0
    h2, w2 = images.shape[-2:]
    clip = images.reshape(b, t, 3, h2, w2).permute(0, 2, 1, 3, 4)
    return ((clip - m.view(1, 3, 1, 1, 1)) / s.view(1, 3, 1, 1, 1)).contiguous()


def _frames_tensor(frames: object) -> Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if isinstance(frames, Tensor) and frames.dim() == 4 and frames.shape[-1] not in (1, 3):
        # (T, H, W, C) with a wrong channel count, not grey (B, T, H, W): refuse the ambiguity.
        raise ValueError(
            "frames must have shape (T, H, W, 3) or (B, T, H, W, 3) with 3 (RGB) or 1 (grey) "
            f"channels last; got shape {tuple(frames.shape)}"
        )
    if isinstance(frames, Tensor) and frames.is_floating_point():
        return _check_layout(frames, "frames", batched=True)
    return as_frames(frames, batched=True)


def _mean_std(
    mean: Sequence[float], std: Sequence[float], device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    m = torch.as_tensor(mean, dtype=dtype, device=device).flatten()
    s = torch.as_tensor(std, dtype=dtype, device=device).flatten()
    if m.numel() != 3 or s.numel() != 3:
        raise ValueError(
            f"mean and std must have 3 entries (R, G, B); got {m.numel()} and {s.numel()} entries"
        )
    if bool((s <= 0).any()):
        raise ValueError(f"std must be positive; got {s.tolist()}")
    return m, s


def denormalize(
    clip: Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Tensor:
    """Undo ``(x - mean) / std`` and return uint8 frames: the inverse of [`to_clip`][videoattr.io.to_clip].

    Args:
        clip: float clip ``(B, C, T, H, W)`` or ``(C, T, H, W)`` with ``C`` = 3 (RGB) or 1 (grey),
            normalised from pixels in ``[0, 1]``.
        mean: per-channel mean (``C`` entries); default zeros.
        std: per-channel standard deviation (``C`` entries); default ones.

    Returns:
        uint8 frames ``(B, T, H, W, 3)`` (or ``(T, H, W, 3)``), ``round(255 * clamp(x * std + mean,
        0, 1))``, on the clip's device. Grey clips are repeated to 3 channels.

    Raises:
        TypeError: ``clip`` is not a floating-point tensor.
        ValueError: wrong rank or channel count, or ``mean``/``std`` of the wrong length.

    Example:
        >>> denormalize(torch.zeros(3, 1, 1, 1), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2)).tolist()
        [[[[128, 128, 128]]]]
    """
    if not isinstance(clip, Tensor) or not clip.is_floating_point():
        raise TypeError(f"clip must be a float tensor (B, C, T, H, W); got {describe(clip)}")
    if clip.dim() not in (4, 5) or clip.shape[-4] not in (1, 3):
        raise ValueError(
            f"clip must have shape (B, C, T, H, W) or (C, T, H, W) with C = 3 or 1; got shape "
            f"{tuple(clip.shape)}"
        )
    c = clip.shape[-4]
    view = (c, 1, 1, 1)
    x = clip.detach().float()
    if std is not None:
        x = x * _per_channel(std, c, "std", x).view(view)
    if mean is not None:
        x = x + _per_channel(mean, c, "mean", x).view(view)
    frames = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).movedim(-4, -1)
    if c == 1:
        frames = frames.expand(*frames.shape[:-1], 3)
    return frames.contiguous()


def _per_channel(values: Sequence[float], c: int, name: str, like: Tensor) -> Tensor:
    out = torch.as_tensor(values, dtype=like.dtype, device=like.device).flatten()
    if out.numel() != c:
        raise ValueError(f"{name} must have {c} entries, one per channel; got {out.numel()}")
    return out
