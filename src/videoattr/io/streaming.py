"""Reading a long video a few frames at a time: [`iter_frames`][videoattr.io.iter_frames] and
[`video_fps`][videoattr.io.video_fps].

[`read_video`][videoattr.io.read_video] returns every requested frame at the source's resolution in
one array; a two-minute video at 25 frames per second and 320x240 pixels is 3000 frames, 690 MB.
[`iter_frames`][videoattr.io.iter_frames] decodes the same sources (video files through PyAV in one
pass, animated GIFs, folders of frame images) and yields them in chunks of ``chunk_size`` frames,
so a caller that shrinks each chunk (to the model's input size) never holds more than one chunk at
the source's resolution.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from videoattr.core.validation import check_positive_int, describe
from videoattr.io.decoding import decode_chunks, decode_timeline, nominal_rate
from videoattr.io.folders import PathLike, list_frame_files, read_frame_images
from videoattr.io.gif import _gif_frames, _repeats, read_gif
from videoattr.io.reading import _existing

__all__ = ["frame_rate", "iter_frames", "video_fps", "video_timestamps"]


def iter_frames(
    path: PathLike,
    *,
    step: int = 1,
    chunk_size: int = 64,
    strict: bool = True,
) -> Iterator[Tensor]:
    """Decode a video and yield every ``step``-th frame (frames ``0, step, 2 step, ...``) in chunks.

    Args:
        path: a video file, a ``.gif`` or a folder of frame images (as for
            [`read_video`][videoattr.io.read_video]).
        step: keep one frame in ``step``. Default 1 (every frame).
        chunk_size: the most frames in one yielded chunk. Default 64.
        strict: raise [`VideoReadError`][videoattr.io.VideoReadError] when FFmpeg reports any
            decoding error in a video file, as [`read_video`][videoattr.io.read_video] does. The
            file is decoded once: the error is raised where the damage is met, after the chunks
            before it. Default ``True``.

    Returns:
        An iterator of ``torch.uint8`` chunks ``(n, H, W, 3)`` on the CPU, ``1 <= n <= chunk_size``, in frame order.
        A video with no frames yields nothing.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoReadError: the file cannot be decoded, or (``strict``) is damaged (the message names
            it).
        ValueError: ``step`` or ``chunk_size`` is not a positive int.

    Example:
        >>> sum(len(c) for c in iter_frames("clip.mp4", step=2, chunk_size=16))  # doctest: +SKIP
        150
    """
    step = check_positive_int(step, "step")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path; got {describe(path)}")
    return _chunks(_existing(path), step, chunk_size, strict)


def _chunks(p: Path, step: int, chunk_size: int, strict: bool) -> Iterator[Tensor]:
    if p.is_dir():
        files = list_frame_files(p)[::step]
        for start in range(0, len(files), chunk_size):
            yield torch.from_numpy(read_frame_images(files[start : start + chunk_size], p))
        return
    if p.suffix.lower() == ".gif":
        frames = read_gif(p)[::step]  # GIFs are small: Pillow decodes them whole
        for start in range(0, len(frames), chunk_size):
            yield torch.from_numpy(np.stack(frames[start : start + chunk_size]))
        return
    for chunk, _ in decode_chunks(p, step, chunk_size, strict):
        yield torch.from_numpy(chunk)


def video_fps(path: PathLike) -> float | None:
    """The frame rate of a video file or GIF in frames per second; ``None`` when it has none.

    Video files report the rate their container states (its average rate); a GIF's rate comes
    from its frame duration (the one [`write_video`][videoattr.io.write_video] records, else the shortest); a folder of
    frame images has no rate.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoReadError: the file cannot be opened.
    """
    p = _existing(path)
    if p.is_dir():
        return None
    if p.suffix.lower() == ".gif":
        _, durations, nominal = _gif_frames(p, decode=False)
        repeats = _repeats(durations, nominal)
        total_ms = sum(durations)
        frames = sum(repeats)
        return 1000.0 * frames / total_ms if total_ms > 0 and frames else None
    return nominal_rate(p)


def video_timestamps(path: PathLike, *, strict: bool = True) -> list[float] | None:
    """The presentation time in seconds of every frame of a video file (relative to the first),
    from the file's timestamps; ``None`` for a GIF or a folder of frame images.

    Each frame's ``pts * time_base``, from one decoding pass over the file (without converting
    pixels), which also counts its frames and (``strict``) reports damage as
    [`count_frames`][videoattr.io.count_frames] does. A variable-frame-rate video keeps its own
    times (the frames are never duplicated to a constant rate). ``None`` also for a file whose
    frames carry no timestamps.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoReadError: the file cannot be decoded, or (``strict``) is damaged.
    """
    p = _existing(path)
    if p.is_dir() or p.suffix.lower() == ".gif":
        return None
    return decode_timeline(p, strict).times()


def frame_rate(timestamps: list[float], nominal: float | None = None) -> float | None:
    """The frame rate to report for frames at ``timestamps``: ``nominal`` (the container's rate)
    when the frames are evenly spaced at about that rate, else the mean rate
    ``(n - 1) / (t[-1] - t[0])`` (a variable frame rate); ``None`` for fewer than two frames and no
    ``nominal``.

    Example:
        >>> frame_rate([0.0, 0.04, 0.08], 25.0), frame_rate([0.0, 0.1, 3.0])
        (25.0, 0.6666666666666666)
    """
    n = len(timestamps)
    span = timestamps[-1] - timestamps[0] if n > 1 else 0.0
    if span <= 0:
        return nominal
    mean = (n - 1) / span
    steps = [b - a for a, b in itertools.pairwise(timestamps)]
    even = max(steps) - min(steps) <= 0.1 / mean
    if nominal and even and abs(nominal - mean) <= 0.01 * nominal:
        return nominal
    return mean
