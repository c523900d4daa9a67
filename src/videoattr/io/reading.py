"""Reading videos: files decoded by FFmpeg, animated GIFs and folders of frame images.

Sources :func:`read_video` understands:

- video files decoded by the FFmpeg binary bundled with ``imageio-ffmpeg`` (``.mp4``, ``.avi``,
  ``.webm``, ``.mkv``, ``.mov``, ``.flv``, ``.ts``, ``.ogv`` and the other containers of
  :data:`VIDEO_DEMUXERS`). A local file is always opened as a local file, whatever its name: FFmpeg
  gets the absolute path behind ``file:`` and may use no protocol but ``file``, so a name such as
  ``concat:a.mp4|b.mp4`` or ``pipe:0`` is just a name; and no playlist format, so a file's content
  cannot pull in other files;
- animated GIFs, decoded by Pillow. GIF writers merge consecutive identical frames into one frame
  shown longer; such a frame is expanded again into ``round(duration / frame duration)`` copies,
  where the frame duration is the one :func:`~videoattr.io.write_video` records in the GIF's
  comment, or else the shortest duration; so a clip written at a constant frame rate comes back
  with its frame count;
- a folder of frame images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``), in natural order of their file
  names (``frame_2.png`` before ``frame_10.png``). Only the sampled frames are decoded.

A file that cannot be decoded (empty, truncated, damaged) raises
:class:`~videoattr.io.VideoReadError` naming it.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from videoattr.core.validation import describe
from videoattr.io.errors import VideoReadError, VideoTooShortError
from videoattr.io.folders import PathLike, list_frame_files
from videoattr.io.frames import Size, center_crop, resize_frames
from videoattr.io.sampling import Sampling, sample_indices

__all__ = ["FFMPEG_INPUT_OPTIONS", "VIDEO_DEMUXERS", "count_frames", "ffmpeg_url", "read_video"]

VIDEO_DEMUXERS: tuple[str, ...] = (
    "mov", "mp4", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "mpegvideo", "ogg", "asf",
    "gif", "h264", "hevc", "m4v", "mjpeg", "nut", "ivf", "obu", "yuv4mpegpipe", "dv", "mxf", "rm",
)  # fmt: skip
"""The FFmpeg demuxers videoattr lets decode a file: video containers and raw video streams.

Playlists and lists of other files (``concat``, ``hls``, ``dash``, ``image2``) are not among them,
so a file's content cannot make FFmpeg read other files either.
"""

FFMPEG_INPUT_OPTIONS: tuple[str, ...] = (
    "-protocol_whitelist",
    "file",
    "-format_whitelist",
    ",".join(VIDEO_DEMUXERS),
)
"""Options given to FFmpeg before every input: local files only, video container formats only."""


def ffmpeg_url(path: PathLike) -> str:
    """The FFmpeg URL of a local file: ``file:`` and its absolute path.

    FFmpeg reads a name with a colon as ``protocol:rest`` (``concat:a|b``, ``pipe:0``,
    ``subfile,,start,0,end,0,,:x``); behind ``file:`` the whole name is a path.

    Example:
        >>> ffmpeg_url("/videos/concat:a.mp4|b.mp4")
        'file:/videos/concat:a.mp4|b.mp4'
    """
    return "file:" + os.path.abspath(os.fspath(path))


def count_frames(path: PathLike, *, strict: bool = True) -> int:
    """The number of frames of a video file, a GIF (after duration expansion) or a frame folder.

    Video files are decoded once by FFmpeg without transferring pixels, which is exact but takes
    time proportional to the video's length.

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
        return sum(_gif_repeats(p))
    return _ffmpeg_count(p, strict)


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
        path: a video file (any format FFmpeg reads: mp4, avi, webm, ...), a ``.gif``, or a folder
            of ``.png``/``.jpg`` frames in natural name order.
        num_frames: ``T``, the number of frames to return; ``None`` (default) returns every frame.
        sampling: ``"uniform"`` (default), ``"strided"`` (the reference implementation's),
            ``"segments"`` or explicit indices; see :func:`~videoattr.io.sample_indices`.
        size: optional resize applied after sampling: an int resizes the short side to ``size``
            keeping the aspect ratio (the long side becomes ``floor(size * long / short)``, as in
            torchvision), a pair ``(h, w)`` resizes to exactly that. Bilinear with antialiasing.
        crop: optional centre crop after resizing, an int (square) or ``(h, w)``.
        strict: raise :class:`~videoattr.io.VideoReadError` when FFmpeg reports any decoding
            error in a video file (truncated or damaged data that it would otherwise conceal).
            Default ``True``; see :func:`count_frames`.

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
        if strict:
            _ffmpeg_count(p, strict)  # a decoding pass that reports damage
        frames = _ffmpeg_read(p, None)
        if len(frames) == 0:
            raise VideoTooShortError(f"video {p} has 0 frames; cannot sample frames from it")
    else:
        n = _ffmpeg_count(p, strict)
        indices = sample_indices(n, num_frames, sampling, source=f"video {p}")
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
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as err:
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
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, EOFError) as err:
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


def _ffmpeg_count(p: Path, strict: bool) -> int:
    """The number of decodable video frames of ``p`` (FFmpeg decodes it once, to a null output).

    FFmpeg logs only errors (stderr) and writes its progress report, which ends with the frame
    count, to stdout.
    """
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-v",
        "error",
        "-progress",
        "pipe:1",
        *FFMPEG_INPUT_OPTIONS,
        "-i",
        ffmpeg_url(p),
        "-map",
        "0:v:0",
        "-f",
        "null",
        "-",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, check=False)
    except OSError as err:
        raise VideoReadError(f"could not run FFmpeg on video {p}: {err}") from err
    errors = [line.strip() for line in done.stderr.decode(errors="replace").splitlines()]
    errors = [line for line in errors if line]
    if done.returncode != 0:
        reason = _last_line("\n".join(errors)) if errors else f"FFmpeg exit code {done.returncode}"
        raise VideoReadError(f"could not decode video {p}: {reason}")
    if strict and errors:
        raise VideoReadError(
            f"video {p} is damaged: FFmpeg reported {len(errors)} decoding errors, the first: "
            f"{errors[0]!r} (pass strict=False to use what decodes anyway)"
        )
    counts = re.findall(r"^frame=\s*(\d+)", done.stdout.decode(errors="replace"), re.M)
    if not counts:
        raise VideoReadError(f"could not decode video {p}: FFmpeg reported no video frames")
    return int(counts[-1])


def _last_line(err: BaseException | str) -> str:
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
        reader = imageio_ffmpeg.read_frames(
            ffmpeg_url(p), pix_fmt="rgb24", input_params=list(FFMPEG_INPUT_OPTIONS)
        )
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
    except (RuntimeError, OSError, StopIteration, KeyError, ValueError) as err:
        raise VideoReadError(f"could not decode video {p}: {_last_line(err)}") from err
    if indices is None:
        return np.stack([kept[i] for i in range(decoded)]) if decoded else np.zeros((0, 0, 0, 3))
    missing = sorted(set(indices) - kept.keys())
    if missing:
        raise VideoTooShortError(
            f"video {p} ended after {decoded} decoded frames; frames {missing[:10]} are missing"
        )
    return np.stack([kept[i] for i in indices])
