"""Frame tensors: validation, resize and centre crop of uint8 frames ``(..., H, W, 3)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from videoattr.core.validation import check_positive_int, describe

__all__ = ["MAX_FRAME_PIXELS", "Size", "as_frames", "center_crop", "resize_frames"]

#: The most pixels a resized frame may have (4096 x 4096): a size derived from a file (a short side
#: scaled up for a video of extreme aspect ratio) is refused above it, before anything is allocated.
MAX_FRAME_PIXELS = 4096 * 4096

Size = int | tuple[int, int]
"""A resize or crop size: an int (short side for a resize, a square for a crop) or ``(h, w)``."""


def as_frames(frames: object, name: str = "frames", *, batched: bool = False) -> Tensor:
    """Validate uint8 frames and return them as a ``torch.uint8`` tensor with 3 channels last.

    Args:
        frames: a ``uint8`` numpy array or tensor ``(T, H, W, 3)``, ``(T, H, W, 1)`` or ``(T, H,
            W)`` (grey, repeated to 3 channels); with ``batched=True`` one more leading dimension
            ``B`` is also accepted.
        name: the argument name used in error messages. Default ``"frames"``.
        batched: whether ``(B, T, H, W, 3)`` (or ``(B, T, H, W)``) is accepted. Default ``False``.

    Returns:
        ``(T, H, W, 3)`` (or ``(B, T, H, W, 3)``) ``torch.uint8`` tensor, on the input's device
        (numpy arrays become CPU tensors without a copy when possible).

    Raises:
        TypeError: not a uint8 array/tensor.
        ValueError: wrong rank, channel count or an empty dimension.

    Example:
        >>> as_frames(np.zeros((2, 4, 5), np.uint8)).shape
        torch.Size([2, 4, 5, 3])
    """
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, Tensor):
        raise TypeError(
            f"{name} must be a uint8 tensor or numpy array (T, H, W, 3); got {describe(frames)}"
        )
    if frames.dtype != torch.uint8:
        raise TypeError(
            f"{name} must have dtype uint8 (T, H, W, 3) frames; got {describe(frames)}. Turn a "
            "normalised float clip into frames with videoattr.io.denormalize(clip, mean, std)."
        )
    return _check_layout(frames, name, batched)


def _check_layout(frames: Tensor, name: str, batched: bool) -> Tensor:
    expected = "(T, H, W, 3) or (B, T, H, W, 3)" if batched else "(T, H, W, 3)"
    grey = frames.dim() == 3 or (batched and frames.dim() == 4 and frames.shape[-1] not in (1, 3))
    if grey:
        frames = frames.unsqueeze(-1)
    if frames.dim() not in ((4, 5) if batched else (4,)) or frames.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape {expected} with 3 (RGB) or 1 (grey) channels last; "
            f"got shape {tuple(frames.shape)}"
        )
    if any(s == 0 for s in frames.shape):
        raise ValueError(
            f"{name} must not have an empty dimension; got shape {tuple(frames.shape)}"
        )
    if frames.shape[-1] == 1:
        frames = frames.expand(*frames.shape[:-1], 3)
    return frames


def _pair(value: Size | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair (h, w) of ints; got {describe(value)}")
    if isinstance(value, int):
        return check_positive_int(value, name), value
    if isinstance(value, Sequence) and len(value) == 2:
        h, w = value
        return check_positive_int(h, f"{name}[0]"), check_positive_int(w, f"{name}[1]")
    raise TypeError(f"{name} must be an int or a pair (h, w) of ints; got {describe(value)}")


def resized_size(h: int, w: int, size: Size | Sequence[int]) -> tuple[int, int]:
    """The ``(h, w)`` a resize to ``size`` gives frames of ``(h, w)`` (torchvision's rule).

    An int (or a one-element sequence) ``s`` scales the short side to ``s`` and the long side to
    ``floor(s * long / short)``; a pair is the exact size.

    Raises:
        ValueError: the result has more than [`MAX_FRAME_PIXELS`][videoattr.io.frames.MAX_FRAME_PIXELS]
            pixels (a video of extreme aspect ratio).
    """
    if isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 1:
        size = size[0]
    if isinstance(size, int) and not isinstance(size, bool):
        s = check_positive_int(size, "size")
        out = (s, max(1, int(s * w / h))) if h <= w else (max(1, int(s * h / w)), s)
    else:
        out = _pair(size, "size")
    if out[0] * out[1] > MAX_FRAME_PIXELS:
        raise ValueError(
            f"resizing frames of {w}x{h} (WxH) to size {size} gives {out[1]}x{out[0]} pixels per "
            f"frame, more than the {MAX_FRAME_PIXELS} allowed (is the video's aspect ratio "
            f"{max(h, w) / min(h, w):.0f}:1?)"
        )
    return out


def crop_box(h: int, w: int, crop: Size | Sequence[int]) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the centre crop ``crop`` of ``(h, w)`` frames.

    The offsets are ``round((h - ch) / 2)`` and ``round((w - cw) / 2)``, as in torchvision's
    ``center_crop``.

    Raises:
        ValueError: the crop is larger than the frames.
    """
    ch, cw = _pair(crop, "crop")
    if ch > h or cw > w:
        raise ValueError(f"crop {(ch, cw)} is larger than the frames' (H, W) = {(h, w)}")
    return round((h - ch) / 2.0), round((w - cw) / 2.0), ch, cw


def resize_images(
    images: Tensor, size: tuple[int, int], *, antialias: bool, round_to_uint8: bool
) -> Tensor:
    """Bilinear resize of float images ``(N, C, H, W)`` to ``size``: the one resize of videoattr.

    With ``round_to_uint8`` the images hold ``0..255`` values and the result is rounded and
    clamped to that range, as torchvision resizes uint8 tensors (so that the preprocessing of
    torchvision's video models is reproduced exactly).
    """
    if tuple(images.shape[-2:]) == size:
        return images
    out = F.interpolate(
        images, size=size, mode="bilinear", align_corners=False, antialias=antialias
    )
    return out.round().clamp(0, 255) if round_to_uint8 else out


def resize_frames(frames: Tensor, size: Size, *, antialias: bool = True) -> Tensor:
    """Resize uint8 frames ``(..., H, W, 3)`` (bilinear, rounded back to uint8).

    Args:
        frames: ``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` uint8 frames.
        size: an int (short side, aspect ratio kept, long side ``floor(size * long / short)``) or
            ``(h, w)``.
        antialias: low-pass filter when shrinking. Default ``True`` (torchvision's video presets
            use ``False``).

    Returns:
        uint8 frames ``(..., h, w, 3)`` on the same device.

    Example:
        >>> resize_frames(torch.zeros(2, 20, 30, 3, dtype=torch.uint8), 10).shape
        torch.Size([2, 10, 15, 3])
    """
    frames = as_frames(frames, batched=True)
    h, w = frames.shape[-3:-1]
    out_size = resized_size(h, w, size)
    if out_size == (h, w):
        return frames
    lead = frames.shape[:-3]
    x = frames.reshape(-1, h, w, 3).permute(0, 3, 1, 2).float()
    x = resize_images(x, out_size, antialias=antialias, round_to_uint8=True).to(torch.uint8)
    return x.permute(0, 2, 3, 1).reshape(*lead, *out_size, 3).contiguous()


def center_crop(frames: Tensor, crop: Size) -> Tensor:
    """Centre crop ``(..., H, W, 3)`` frames to ``crop`` (int or ``(h, w)``).

    The offsets are ``round((H - h) / 2)`` and ``round((W - w) / 2)``, as in torchvision's
    ``center_crop``.

    Raises:
        ValueError: the crop is larger than the frames.
    """
    h, w = frames.shape[-3:-1]
    top, left, ch, cw = crop_box(h, w, crop)
    return frames[..., top : top + ch, left : left + cw, :]
