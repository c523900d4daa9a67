"""Read, sample, resize and write video clips.

Frames travel as ``torch.uint8`` tensors of shape ``(T, H, W, 3)``: RGB, channels last, on the CPU,
the layout of a decoded video and of `torchvision.io.read_video`. A model adapter's
``preprocess`` (or the generic [`to_clip`][videoattr.io.to_clip] here) turns them into a normalised float clip
``(1, 3, T, H, W)``.

Sources [`read_video`][videoattr.io.read_video] understands:

- video files decoded by the FFmpeg binary bundled with ``imageio-ffmpeg`` (``.mp4``, ``.avi``,
  ``.webm``, ``.mkv``, ``.mov`` and anything else FFmpeg can open);
- animated GIFs, decoded by Pillow. GIF writers merge consecutive identical frames into one frame
  shown longer; such a frame is expanded again into ``round(duration / frame duration)`` copies,
  where the frame duration is the one [`write_video`][videoattr.io.write_video] records in the GIF's comment, or else the
  shortest duration; so a clip written at a constant frame rate comes back with its frame count;
- a folder of frame images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``), in natural order of their file
  names (``frame_2.png`` before ``frame_10.png``). Only the sampled frames are decoded.

Frame sampling ([`sample_indices`][videoattr.io.sample_indices]), for a video of ``n`` frames and ``T`` requested frames:

- ``"uniform"``: ``T`` indices evenly spaced over the whole video,
  ``round_half_up(linspace(0, n - 1, T))``.
- ``"strided"``: the sampling of the paper's code (see SPEC, "Model zoo"): the indices
  ``0, s, 2s, ...`` below ``n`` with stride ``s = floor(n / T)``, of which the last ``T`` are kept.
  For ``n = 35, T = 16``: ``s = 2``, the strided indices are ``0, 2, ..., 34`` (18 of them) and the
  clip is ``4, 6, ..., 34``.
- a sequence of ints: those frames, in the given order (repeats allowed), each checked to lie in
  ``[0, n)``.

Both named modes need ``n >= T``; a shorter video raises [`VideoTooShortError`][videoattr.io.VideoTooShortError] naming the file
and its frame count.

Example:
    >>> frames = read_video("clip.mp4", 16, "strided", size=(128, 171), crop=112)  # doctest: +SKIP
    >>> frames.shape  # doctest: +SKIP
    torch.Size([16, 112, 112, 3])
    >>> x = to_clip(frames, mean=(0.43216, 0.39467, 0.37645), std=(0.22803, 0.22145, 0.21699))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from videoattr.core.validation import check_positive_int, describe

__all__ = [
    "FRAME_EXTENSIONS",
    "Sampling",
    "VideoReadError",
    "VideoTooShortError",
    "as_frames",
    "center_crop",
    "count_frames",
    "list_frame_files",
    "read_video",
    "resize_frames",
    "sample_indices",
    "to_clip",
    "write_frames",
    "write_video",
]

Sampling = Literal["uniform", "strided"]
SAMPLINGS: tuple[str, ...] = ("uniform", "strided")

FRAME_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
"""File name endings (case-insensitive) of the frame images a folder source may hold."""

PathLike = str | Path
Size = int | tuple[int, int]


class VideoReadError(ValueError):
    """A video file, GIF or frame image exists but could not be decoded."""


class VideoTooShortError(VideoReadError):
    """A video has fewer frames than the requested sampling needs."""


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


def sample_indices(
    num_available: int,
    num_frames: int | None,
    sampling: Sampling | Sequence[int] = "uniform",
    *,
    source: str = "video",
) -> list[int]:
    """Indices of the frames to keep from a video of ``num_available`` frames.

    Args:
        num_available: ``n``, the number of frames in the video (``>= 0``).
        num_frames: ``T``, the number of frames wanted; ``None`` keeps every frame (or, with
            explicit indices, however many indices are given; otherwise it must equal their count).
        sampling: ``"uniform"`` (default; ``round_half_up(linspace(0, n - 1, T))``), ``"strided"``
            (stride ``floor(n / T)`` from frame 0, keeping the last ``T`` indices: the paper's
            sampling) or a sequence of explicit indices in ``[0, n)``.
        source: how to name the video in error messages (a file name).

    Returns:
        A list of ``T`` frame indices.

    Raises:
        VideoTooShortError: ``n < T`` for a named mode, or ``n == 0``.
        ValueError: an unknown mode, an explicit index outside ``[0, n)``, or ``num_frames`` that
            disagrees with the number of explicit indices.
        TypeError: ``num_frames`` or an explicit index is not an int.

    Example:
        >>> sample_indices(35, 16, "strided")[:3]
        [4, 6, 8]
        >>> sample_indices(10, 4, "uniform")
        [0, 3, 6, 9]
    """
    n = num_available
    if n <= 0:
        raise VideoTooShortError(f"{source} has 0 frames; cannot sample frames from it")
    if isinstance(sampling, str):
        if sampling not in SAMPLINGS:
            raise ValueError(
                f"sampling must be one of {list(SAMPLINGS)} or a sequence of frame indices; "
                f"got {sampling!r}"
            )
        if num_frames is None:
            return list(range(n))
        t = check_positive_int(num_frames, "num_frames")
        if n < t:
            raise VideoTooShortError(
                f"{source} has {n} frames, too few for {sampling} sampling of num_frames={t} "
                f"(needs at least {t} frames)"
            )
        if sampling == "uniform":
            if t == 1:
                return [0]
            # round_half_up(i (n - 1) / (T - 1)) in exact integer arithmetic.
            return [(2 * i * (n - 1) + t - 1) // (2 * (t - 1)) for i in range(t)]
        stride = n // t
        return list(range(0, n, stride))[-t:]
    indices = _check_indices(sampling, n, source)
    if num_frames is not None and num_frames != len(indices):
        raise ValueError(
            f"num_frames={num_frames!r} disagrees with the {len(indices)} explicit indices given "
            "as sampling; pass num_frames=None or the same count"
        )
    return indices


def _check_indices(sampling: object, n: int, source: str) -> list[int]:
    if isinstance(sampling, Tensor):
        sampling = sampling.flatten().tolist()
    if isinstance(sampling, np.ndarray):
        sampling = sampling.ravel().tolist()
    if not isinstance(sampling, Sequence) or isinstance(sampling, (str, bytes)):
        raise TypeError(
            f"sampling must be 'uniform', 'strided' or a sequence of ints; got {describe(sampling)}"
        )
    indices: list[int] = []
    for i in sampling:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"frame indices must be ints; got {describe(i)}")
        indices.append(int(i))
    if not indices:
        raise ValueError("sampling must contain at least one frame index; got an empty sequence")
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ValueError(
            f"frame indices {bad[:10]} are out of range for {source}, which has {n} frames "
            f"(valid: 0 to {n - 1})"
        )
    return indices


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _natural_key(path: Path) -> list[tuple[int, int | str]]:
    parts = re.split(r"(\d+)", path.name.lower())
    return [(0, int(p)) if p.isdigit() else (1, p) for p in parts if p]


def list_frame_files(folder: PathLike) -> list[Path]:
    """The frame images of ``folder`` ([`FRAME_EXTENSIONS`][videoattr.io.FRAME_EXTENSIONS]), in natural order of their names.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"frame folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of frame images; {root} is a file")
    files = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS]
    return sorted(files, key=_natural_key)


def count_frames(path: PathLike) -> int:
    """The number of frames of a video file, a GIF (after duration expansion) or a frame folder.

    Video files are decoded once by FFmpeg without transferring pixels, which is exact but takes
    time proportional to the video's length.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoReadError: the file cannot be decoded.
    """
    p = _existing(path)
    if p.is_dir():
        return len(list_frame_files(p))
    if p.suffix.lower() == ".gif":
        return sum(_gif_repeats(p))
    return _ffmpeg_count(p)


def read_video(
    path: PathLike,
    num_frames: int | None = None,
    sampling: Sampling | Sequence[int] = "uniform",
    *,
    size: Size | None = None,
    crop: Size | None = None,
) -> Tensor:
    """Read ``num_frames`` frames of a video file, an animated GIF or a folder of frame images.

    Args:
        path: a video file (any format FFmpeg reads: mp4, avi, webm, ...), a ``.gif``, or a folder
            of ``.png``/``.jpg`` frames in natural name order.
        num_frames: ``T``, the number of frames to return; ``None`` (default) returns every frame.
        sampling: ``"uniform"`` (default), ``"strided"`` (the paper's sampling) or explicit indices;
            see [`sample_indices`][videoattr.io.sample_indices].
        size: optional resize applied after sampling: an int resizes the short side to ``size``
            keeping the aspect ratio (the long side becomes ``floor(size * long / short)``, as in
            torchvision), a pair ``(h, w)`` resizes to exactly that. Bilinear with antialiasing.
        crop: optional centre crop after resizing, an int (square) or ``(h, w)``.

    Returns:
        ``torch.uint8`` tensor ``(T, H, W, 3)`` on the CPU (RGB; grey and RGBA sources are
        converted).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoTooShortError: the video has fewer frames than ``num_frames`` (names the file and
            count).
        VideoReadError: the file or one of the frame images cannot be decoded, or the frame images
            of a folder differ in size.
        ValueError: invalid sampling, size or crop.

    Example:
        >>> frames = read_video("frames/", 8, "uniform", size=64, crop=56)  # doctest: +SKIP
    """
    p = _existing(path)
    if p.is_dir():
        files = list_frame_files(p)
        indices = sample_indices(len(files), num_frames, sampling, source=f"frame folder {p}")
        frames = _read_images([files[i] for i in indices], p)
    elif p.suffix.lower() == ".gif":
        all_frames = _read_gif(p)
        indices = sample_indices(len(all_frames), num_frames, sampling, source=f"video {p}")
        frames = np.stack([all_frames[i] for i in indices])
    elif num_frames is None and isinstance(sampling, str):
        frames = _ffmpeg_read(p, None)
        if len(frames) == 0:
            raise VideoTooShortError(f"video {p} has 0 frames; cannot sample frames from it")
    else:
        indices = sample_indices(_ffmpeg_count(p), num_frames, sampling, source=f"video {p}")
        frames = _ffmpeg_read(p, indices)
    out = torch.from_numpy(np.ascontiguousarray(frames))
    if size is not None:
        out = resize_frames(out, size)
    if crop is not None:
        out = center_crop(out, crop)
    return out


def _existing(path: PathLike) -> Path:
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path; got {describe(path)}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"video not found: {p} (no such file or folder)")
    return p


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _read_images(files: Sequence[Path], folder: Path) -> np.ndarray:
    frames: list[np.ndarray] = []
    for f in files:
        try:
            with Image.open(f) as im:
                frame = _to_rgb(im)
        except (UnidentifiedImageError, OSError) as err:
            raise VideoReadError(f"could not decode frame image {f}: {err}") from err
        if frames and frame.shape != frames[0].shape:
            raise VideoReadError(
                f"frame images of {folder} differ in size: {files[0].name} is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]} (WxH) but {f.name} is "
                f"{frame.shape[1]}x{frame.shape[0]}"
            )
        frames.append(frame)
    return np.stack(frames)


_GIF_COMMENT = re.compile(rb"videoattr frame_ms=(\d+)")


def _gif_frames(p: Path, decode: bool = True) -> tuple[list[np.ndarray], list[float], float | None]:
    """Stored frames (when ``decode``), their durations (ms) and the nominal frame duration."""
    frames: list[np.ndarray] = []
    durations: list[float] = []
    try:
        with Image.open(p) as im:
            comment = im.info.get("comment", b"")
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                durations.append(float(im.info.get("duration", 0) or 0))
                if decode:
                    frames.append(_to_rgb(im))
    except (UnidentifiedImageError, OSError, EOFError) as err:
        raise VideoReadError(f"could not decode GIF {p}: {err}") from err
    found = _GIF_COMMENT.search(comment) if isinstance(comment, bytes) else None
    return frames, durations, float(found.group(1)) if found else None


def _repeats(durations: Sequence[float], nominal: float | None) -> list[int]:
    """How many frames each stored GIF frame stands for, from its duration."""
    if any(d <= 0 for d in durations):
        return [1] * len(durations)
    base = nominal if nominal else min(durations)
    return [max(1, math.floor(d / base + 0.5)) for d in durations]


def _gif_repeats(p: Path) -> list[int]:
    _, durations, nominal = _gif_frames(p, decode=False)
    return _repeats(durations, nominal)


def _read_gif(p: Path) -> list[np.ndarray]:
    stored, durations, nominal = _gif_frames(p)
    frames: list[np.ndarray] = []
    for frame, k in zip(stored, _repeats(durations, nominal), strict=True):
        frames.extend([frame] * k)
    return frames


def _ffmpeg_count(p: Path) -> int:
    import imageio_ffmpeg

    try:
        n, _ = imageio_ffmpeg.count_frames_and_secs(str(p))
    except (RuntimeError, OSError) as err:
        raise VideoReadError(f"could not decode video {p}: {_last_line(err)}") from err
    return int(n or 0)


def _last_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _ffmpeg_read(p: Path, indices: Sequence[int] | None) -> np.ndarray:
    """Decode ``p`` keeping the frames at ``indices`` (in that order; ``None``: all frames)."""
    import imageio_ffmpeg

    wanted = None if indices is None else set(indices)
    last = -1 if indices is None else max(indices)
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        reader = imageio_ffmpeg.read_frames(str(p), pix_fmt="rgb24")
        meta = next(reader)
        width, height = meta["size"]
        try:
            for i, buffer in enumerate(reader):
                decoded = i + 1
                if wanted is None or i in wanted:
                    kept[i] = np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
                if indices is not None and i >= last:
                    break
        finally:
            reader.close()
    except (RuntimeError, OSError, StopIteration) as err:
        raise VideoReadError(f"could not decode video {p}: {_last_line(err)}") from err
    if indices is None:
        return np.stack([kept[i] for i in range(decoded)]) if decoded else np.zeros((0, 0, 0, 3))
    missing = sorted(set(indices) - kept.keys())
    if missing:
        raise VideoTooShortError(
            f"video {p} ended after {decoded} decoded frames; frames {missing[:10]} are missing"
        )
    return np.stack([kept[i] for i in indices])


# --------------------------------------------------------------------------------------------------
# Frame tensors: validation, resize, crop, normalisation
# --------------------------------------------------------------------------------------------------


def as_frames(frames: object, name: str = "frames", *, batched: bool = False) -> Tensor:
    """Validate uint8 frames and return them as a ``torch.uint8`` tensor with 3 channels last.

    Args:
        frames: a ``uint8`` numpy array or tensor ``(T, H, W, 3)``, ``(T, H, W, 1)`` or ``(T, H,
            W)`` (grey, repeated to 3 channels); with ``batched=True`` one more leading dimension
            ``B`` is also accepted.
        name: the argument name used in error messages.
        batched: whether ``(B, T, H, W, 3)`` (or ``(B, T, H, W)``) is accepted.

    Returns:
        ``(T, H, W, 3)`` (or ``(B, T, H, W, 3)``) ``torch.uint8`` tensor, on the input's device
        (numpy arrays become CPU tensors without a copy when possible).

    Raises:
        TypeError: not a uint8 array/tensor.
        ValueError: wrong rank, channel count or an empty dimension.
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
            "normalised float clip into frames with videoattr.viz.denormalize(clip, mean, std)."
        )
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


def _pair(value: Size, name: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair (h, w) of ints; got {describe(value)}")
    if isinstance(value, int):
        return check_positive_int(value, name), value
    if isinstance(value, Sequence) and len(value) == 2:
        h, w = value
        return check_positive_int(h, f"{name}[0]"), check_positive_int(w, f"{name}[1]")
    raise TypeError(f"{name} must be an int or a pair (h, w) of ints; got {describe(value)}")


def _resized_size(h: int, w: int, size: Size) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        s = check_positive_int(size, "size")
        if h <= w:
            return s, max(1, int(s * w / h))
        return max(1, int(s * h / w)), s
    return _pair(size, "size")


def _resize_float(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear antialiased resize of ``(N, C, H, W)`` float images to ``size``."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _crop_box(h: int, w: int, crop: Size) -> tuple[int, int, int, int]:
    ch, cw = _pair(crop, "crop")
    if ch > h or cw > w:
        raise ValueError(f"crop {(ch, cw)} is larger than the frames' (H, W) = {(h, w)}")
    top = round((h - ch) / 2.0)
    left = round((w - cw) / 2.0)
    return top, left, ch, cw


def resize_frames(frames: Tensor, size: Size) -> Tensor:
    """Resize uint8 frames ``(..., H, W, 3)`` (bilinear, antialiased, rounded back to uint8).

    Args:
        frames: ``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` uint8 frames.
        size: an int (short side, aspect ratio kept, long side ``floor(size * long / short)``) or
            ``(h, w)``.

    Returns:
        uint8 frames ``(..., h, w, 3)`` on the same device.
    """
    frames = as_frames(frames, batched=True)
    h, w = frames.shape[-3:-1]
    out_size = _resized_size(h, w, size)
    if out_size == (h, w):
        return frames
    lead = frames.shape[:-3]
    x = frames.reshape(-1, h, w, 3).permute(0, 3, 1, 2).float()
    x = _resize_float(x, out_size).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).reshape(*lead, *out_size, 3).contiguous()


def center_crop(frames: Tensor, crop: Size) -> Tensor:
    """Centre crop ``(..., H, W, 3)`` frames to ``crop`` (int or ``(h, w)``).

    The offsets are ``round((H - h) / 2)`` and ``round((W - w) / 2)``, as in torchvision's
    ``center_crop``.

    Raises:
        ValueError: the crop is larger than the frames.
    """
    h, w = frames.shape[-3:-1]
    top, left, ch, cw = _crop_box(h, w, crop)
    return frames[..., top : top + ch, left : left + cw, :]


def to_clip(
    frames: Tensor | np.ndarray,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    size: Size | None = None,
    crop: Size | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Turn uint8 frames into a normalised float clip ``(B, 3, T, H, W)``.

    Pixels are scaled to ``[0, 1]``, resized (``size``), centre cropped (``crop``) and normalised
    per channel as ``(x - mean) / std``. The seed's preprocessing for R(2+1)D-18 is
    ``to_clip(frames, mean, std, size=(128, 171), crop=112)``.

    Args:
        frames: uint8 ``(T, H, W, 3)`` (gives ``B = 1``) or ``(B, T, H, W, 3)``.
        mean: per-channel mean of ``[0, 1]`` pixels; default zeros.
        std: per-channel standard deviation; default ones.
        size: optional resize, an int (short side) or ``(h, w)``; see [`resize_frames`][videoattr.io.resize_frames].
        crop: optional centre crop, an int or ``(h, w)``.
        device: where the clip goes; default the frames' device.
        dtype: floating dtype of the clip; default ``torch.float32``.

    Returns:
        Float clip ``(B, 3, T, h, w)``.

    Raises:
        ValueError: ``mean``/``std`` do not have 3 entries or ``std`` has a non-positive entry.

    Example:
        >>> frames = torch.zeros(4, 20, 30, 3, dtype=torch.uint8)
        >>> to_clip(frames, size=16, crop=12).shape
        torch.Size([1, 3, 4, 12, 12])
    """
    x = as_frames(frames, batched=True)
    if x.dim() == 4:
        x = x.unsqueeze(0)
    if device is not None:
        x = x.to(device)
    m, s = _mean_std(mean, std, x.device, dtype)
    b, t, h, w, _ = x.shape
    images = x.reshape(b * t, h, w, 3).permute(0, 3, 1, 2).to(dtype) / 255.0
    if size is not None:
        images = _resize_float(images, _resized_size(h, w, size))
    if crop is not None:
        top, left, ch, cw = _crop_box(images.shape[-2], images.shape[-1], crop)
        images = images[..., top : top + ch, left : left + cw]
    h2, w2 = images.shape[-2:]
    clip = images.reshape(b, t, 3, h2, w2).permute(0, 2, 1, 3, 4)
    return ((clip - m.view(1, 3, 1, 1, 1)) / s.view(1, 3, 1, 1, 1)).contiguous()


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


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

# (codec, pixel format, needs even size, default constant rate factor) per file ending.
_FFMPEG_FORMATS: dict[str, tuple[str, str, bool, int | None]] = {
    ".mp4": ("libx264", "yuv420p", True, 18),
    ".m4v": ("libx264", "yuv420p", True, 18),
    ".mov": ("libx264", "yuv420p", True, 18),
    ".mkv": ("libx264", "yuv420p", True, 18),
    ".webm": ("libvpx-vp9", "yuv420p", True, 24),
    ".avi": ("ffv1", "bgr0", False, None),
}


def _numpy_frames(frames: object) -> np.ndarray:
    x = as_frames(frames)
    array: np.ndarray = np.ascontiguousarray(x.detach().cpu().numpy())
    return array


def write_video(
    path: PathLike,
    frames: Tensor | np.ndarray,
    fps: float = 8.0,
    *,
    crf: int | None = None,
) -> Path:
    """Write uint8 frames as a video file; the format follows the file name's ending.

    - ``.gif``: Pillow, an adaptive 256-colour palette per frame (lossy), looping forever. The frame
      duration is ``1000 / fps`` ms rounded to the GIF's 10 ms resolution (at least 10 ms).
    - ``.mp4`` (also ``.m4v``, ``.mov``, ``.mkv``): H.264, ``yuv420p`` (plays everywhere), constant
      rate factor ``crf`` (default 18, visually lossless; lossy). Odd heights or widths are padded
      by one row/column repeating the border, as 4:2:0 chroma needs an even size.
    - ``.webm``: VP9, ``yuv420p``, ``crf`` default 24 (lossy), same padding.
    - ``.avi``: FFV1, lossless RGB.

    Args:
        path: output file; parent folders are created.
        frames: uint8 ``(T, H, W, 3)`` (or grey ``(T, H, W)``) tensor or array.
        fps: frames per second, > 0; default 8.
        crf: constant rate factor for ``.mp4``/``.webm`` (lower is better; 0-51 for H.264, 0-63 for
            VP9).

    Returns:
        The written path.

    Raises:
        ValueError: unknown file ending or invalid ``fps``/``crf``.
        OSError: FFmpeg failed to write the file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix != ".gif" and suffix not in _FFMPEG_FORMATS:
        raise ValueError(
            f"cannot write {p}: the file name must end with one of "
            f"{['.gif', *sorted(_FFMPEG_FORMATS)]}; got {suffix or 'no ending'!r}"
        )
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"fps must be a positive number; got {fps!r}")
    array = _numpy_frames(frames)
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        _write_gif(p, array, float(fps))
    else:
        _write_ffmpeg(p, array, float(fps), crf)
    return p


def _write_gif(p: Path, frames: np.ndarray, fps: float) -> None:
    duration = max(10, 10 * math.floor(100.0 / fps + 0.5))
    images = [Image.fromarray(f) for f in frames]
    # The comment records the frame duration, so that frames merged by Pillow (identical
    # neighbours) can be counted again on reading, even when every frame was merged.
    comment = f"videoattr frame_ms={duration}".encode()
    images[0].save(
        p, save_all=True, append_images=images[1:], duration=duration, loop=0, comment=comment
    )


def _write_ffmpeg(p: Path, frames: np.ndarray, fps: float, crf: int | None) -> None:
    import imageio_ffmpeg

    codec, pix_fmt, even, default_crf = _FFMPEG_FORMATS[p.suffix.lower()]
    if even and (frames.shape[1] % 2 or frames.shape[2] % 2):
        pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
        frames = np.ascontiguousarray(np.pad(frames, pad, mode="edge"))
    params: list[str] = []
    rate = crf if crf is not None else default_crf
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 63:
            raise ValueError(f"crf must be an int in [0, 63]; got {crf!r}")
        params = ["-crf", str(rate)]
        if codec == "libvpx-vp9":
            params += ["-b:v", "0"]
    height, width = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        str(p),
        (width, height),
        fps=Fraction(fps).limit_denominator(1001),
        codec=codec,
        pix_fmt_out=pix_fmt,
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=params,
    )
    try:
        writer.send(None)
        for frame in frames:
            writer.send(frame)
    finally:
        writer.close()


def write_frames(
    folder: PathLike,
    frames: Tensor | np.ndarray,
    *,
    prefix: str = "frame_",
    ext: str = "png",
    overwrite: bool = False,
) -> list[Path]:
    """Write uint8 frames as numbered images ``{prefix}{i:05d}.{ext}`` (``i`` from 0) in ``folder``.

    [`read_video`][videoattr.io.read_video] reads such a folder back in the same order (PNG is lossless; JPEG is written
    at quality 95).

    Args:
        folder: output folder; created with its parents when missing.
        frames: uint8 ``(T, H, W, 3)`` (or grey ``(T, H, W)``) tensor or array.
        prefix: file name prefix.
        ext: ``"png"`` (default), ``"jpg"``, ``"jpeg"`` or ``"bmp"``.
        overwrite: if the folder already holds frame images, ``False`` (default) raises
            ``FileExistsError`` (mixing two clips would corrupt the read-back); ``True`` deletes
            those images (only files ending in [`FRAME_EXTENSIONS`][videoattr.io.FRAME_EXTENSIONS]) first.

    Returns:
        The written paths, in frame order.
    """
    ending = "." + ext.lower().lstrip(".")
    if ending not in FRAME_EXTENSIONS:
        raise ValueError(f"ext must be one of {[e[1:] for e in FRAME_EXTENSIONS]}; got {ext!r}")
    array = _numpy_frames(frames)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    existing = list_frame_files(root)
    if existing:
        if not overwrite:
            raise FileExistsError(
                f"{root} already holds {len(existing)} frame images; pass overwrite=True to "
                "replace them or choose an empty folder"
            )
        for f in existing:
            f.unlink()
    digits = max(5, len(str(len(array) - 1)))
    paths = []
    for i, frame in enumerate(array):
        target = root / f"{prefix}{i:0{digits}d}{ending}"
        image = Image.fromarray(frame)
        if ending in (".jpg", ".jpeg"):
            image.save(target, quality=95)
        else:
            image.save(target)
        paths.append(target)
    return paths
