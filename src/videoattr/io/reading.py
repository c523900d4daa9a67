"""Reading videos: files decoded by PyAV (FFmpeg's libraries), animated GIFs and frame folders.

Sources [`read_video`][videoattr.io.read_video] understands, each read by a module of its own:

- video files (``.mp4``, ``.avi``, ``.webm``, ``.mkv``, ``.mov``, ``.flv``, ``.ts``, ``.ogv``, ...),
  decoded in process by PyAV (`videoattr.io.decoding`). A local file is always opened by
  videoattr as a local file (`videoattr.io.safe_opening`), whatever its name (``concat:a.mp4|b.mp4`` and ``pipe:0`` are just
  names), and only video container formats are decoded, so a file's content cannot pull in other
  files. Frames keep their timestamps: a variable-frame-rate file gives the frames it holds, and
  a clip is read by seeking to the key frame before it;
- animated GIFs, decoded by Pillow (`videoattr.io.gif`), frames merged by the GIF writer
  expanded again so that a clip comes back with its frame count;
- a folder of frame images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``), in natural order of their file
  names (``frame_2.png`` before ``frame_10.png``; `videoattr.io.folders`). Only the sampled
  frames are decoded.

A file that cannot be decoded (empty, truncated, damaged) raises
[`VideoReadError`][videoattr.io.VideoReadError] naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from videoattr.core.validation import describe
from videoattr.io.decoding import decode_all, decode_frames, decode_timeline
from videoattr.io.errors import VideoReadError, VideoTooShortError
from videoattr.io.folders import PathLike, list_frame_files, read_frame_images
from videoattr.io.frames import Size, center_crop, resize_frames
from videoattr.io.gif import count_gif_frames, read_gif
from videoattr.io.sampling import Sampling, sample_indices

__all__ = ["count_frames", "read_video"]


def count_frames(path: PathLike, *, strict: bool = True) -> int:
    """The number of frames of a video file, a GIF (after duration expansion) or a frame folder.

    Video files are decoded once without converting their pixels, which is exact (the frames the
    file holds, each once) but takes time proportional to the video's length.

    Args:
        path: a video file, a ``.gif`` or a folder of frame images.
        strict: for video files, raise when FFmpeg reports any decoding error (a truncated or
            damaged file), even if it could conceal the damage and go on. Default ``True``;
            ``False`` counts whatever decodes (for datasets with known, harmless glitches).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoReadError: the file cannot be decoded, or (``strict``) is damaged; the message names
            the file and FFmpeg's first error.
    """
    p = _existing(path)
    if p.is_dir():
        return len(list_frame_files(p))
    if p.suffix.lower() == ".gif":
        return count_gif_frames(p)
    return len(decode_timeline(p, strict))


def read_video(
    path: PathLike,
    num_frames: int | None = None,
    sampling: Sampling | Sequence[int] = "uniform",
    *,
    size: Size | None = None,
    crop: Size | None = None,
    strict: bool = True,
) -> Tensor:
    """Read ``num_frames`` frames of a video file, an animated GIF or a folder of frame images.

    Args:
        path: a video file (mp4, avi, webm, mkv, mov and the other video containers of
            [`VIDEO_DEMUXERS`][videoattr.io.safe_opening.VIDEO_DEMUXERS]), a ``.gif``, or a folder
            of ``.png``/``.jpg`` frames in natural name order.
        num_frames: ``T``, the number of frames to return; ``None`` (default) returns every frame.
        sampling: ``"uniform"`` (default), ``"strided"`` (the reference implementation's),
            ``"segments"`` or explicit indices; see [`sample_indices`][videoattr.io.sample_indices].
        size: optional resize applied after sampling: an int resizes the short side to ``size``
            keeping the aspect ratio (the long side becomes ``floor(size * long / short)``, as in
            torchvision), a pair ``(h, w)`` resizes to exactly that. Bilinear with antialiasing.
        crop: optional centre crop after resizing, an int (square) or ``(h, w)``.
        strict: raise [`VideoReadError`][videoattr.io.VideoReadError] when FFmpeg reports any decoding
            error in a video file (truncated or damaged data that it would otherwise conceal).
            Default ``True``; see [`count_frames`][videoattr.io.count_frames].

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
        frames = read_frame_images([files[i] for i in indices], p)
    elif p.suffix.lower() == ".gif":
        all_frames = read_gif(p)
        indices = sample_indices(len(all_frames), num_frames, sampling, source=f"video {p}")
        frames = np.stack([all_frames[i] for i in indices])
    elif num_frames is None and isinstance(sampling, str):
        frames = decode_all(p, strict)  # one pass, damage reported as met
        if len(frames) == 0:
            raise VideoTooShortError(f"video {p} has 0 frames; cannot sample frames from it")
    else:
        timeline = decode_timeline(p, strict)  # the count, the timestamps and any damage
        indices = sample_indices(len(timeline), num_frames, sampling, source=f"video {p}")
        frames = decode_frames(p, indices, timeline)
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
    if not (p.is_file() or p.is_dir()):
        raise VideoReadError(
            f"{p} is not a regular file or a folder (a pipe, socket or device): videoattr reads "
            "videos only from files"
        )
    return p
