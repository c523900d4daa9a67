"""Writing uint8 frames as video files (GIF, MP4, WebM, MKV, MOV, AVI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from videoattr.io.ffmpeg import FFMPEG_FORMATS, ffmpeg_write
from videoattr.io.folders import PathLike, numpy_frames
from videoattr.io.gif import write_gif

__all__ = ["write_video"]


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
    if suffix != ".gif" and suffix not in FFMPEG_FORMATS:
        raise ValueError(
            f"cannot write {p}: the file name must end with one of "
            f"{['.gif', *sorted(FFMPEG_FORMATS)]}; got {suffix or 'no ending'!r}"
        )
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"fps must be a positive number; got {fps!r}")
    array = numpy_frames(frames)
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        write_gif(p, array, float(fps))
    else:
        ffmpeg_write(p, array, float(fps), crf)
    return p
