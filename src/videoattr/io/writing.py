"""Writing uint8 frames as video files (GIF, MP4, WebM, MKV, MOV, AVI)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from videoattr.io.folders import PathLike, numpy_frames
from videoattr.io.reading import ffmpeg_url

__all__ = ["write_video"]

# (codec, pixel format, needs even size, default constant rate factor) per file ending.
_FFMPEG_FORMATS: dict[str, tuple[str, str, bool, int | None]] = {
    ".mp4": ("libx264", "yuv420p", True, 18),
    ".m4v": ("libx264", "yuv420p", True, 18),
    ".mov": ("libx264", "yuv420p", True, 18),
    ".mkv": ("libx264", "yuv420p", True, 18),
    ".webm": ("libvpx-vp9", "yuv420p", True, 24),
    ".avi": ("ffv1", "bgr0", False, None),
}


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
    array = numpy_frames(frames)
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
        ffmpeg_url(p),
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
