"""Animated GIFs: Pillow reads and writes them; repeated frames keep their count.

GIF writers merge consecutive identical frames into one frame shown longer; on reading, such a
frame is expanded again into ``round(duration / frame duration)`` copies, where the frame duration
is the one `write_gif` records in the GIF's comment, or else the shortest duration; so a clip
written at a constant frame rate comes back with its frame count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from videoattr.io.errors import VideoReadError
from videoattr.io.folders import to_rgb

__all__ = ["count_gif_frames", "read_gif", "write_gif"]

_GIF_COMMENT_FORMAT = "videoattr frame_ms={}"
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
                    frames.append(to_rgb(im))
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


def count_gif_frames(p: Path) -> int:
    """The number of frames of GIF ``p`` after expanding merged frames."""
    return sum(_gif_repeats(p))


def _gif_repeats(p: Path) -> list[int]:
    _, durations, nominal = _gif_frames(p, decode=False)
    return _repeats(durations, nominal)


def read_gif(p: Path) -> list[np.ndarray]:
    stored, durations, nominal = _gif_frames(p)
    frames: list[np.ndarray] = []
    for frame, k in zip(stored, _repeats(durations, nominal), strict=True):
        frames.extend([frame] * k)
    return frames


def write_gif(p: Path, frames: np.ndarray, fps: float) -> None:
    """Write uint8 frames ``(T, H, W, 3)`` as a looping GIF at ``fps`` (10 ms resolution)."""
    duration = max(10, 10 * math.floor(100.0 / fps + 0.5))
    images = [Image.fromarray(f) for f in frames]
    # The comment records the frame duration, so that frames merged by Pillow (identical
    # neighbours) can be counted again on reading, even when every frame was merged.
    comment = _GIF_COMMENT_FORMAT.format(duration).encode()
    images[0].save(
        p, save_all=True, append_images=images[1:], duration=duration, loop=0, comment=comment
    )
