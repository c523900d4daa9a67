"""FFmpeg, the encoder of video files, called safely.

FFmpeg is the binary bundled with ``imageio-ffmpeg``; it gets the frames through a pipe and writes
the file named by `ffmpeg_url`: ``file:`` and the absolute path, so a name such as
``concat:a.mp4|b.mp4`` or ``pipe:1`` is just a name. Reading is done in process by PyAV
(`videoattr.io.decoding`).
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["FFMPEG_FORMATS", "ffmpeg_url", "ffmpeg_write"]


def ffmpeg_url(path: str | os.PathLike[str]) -> str:
    """The FFmpeg URL of a local file: ``file:`` and its absolute path.

    FFmpeg reads a name with a colon as ``protocol:rest`` (``concat:a|b``, ``pipe:0``,
    ``subfile,,start,0,end,0,,:x``); behind ``file:`` the whole name is a path.

    Example:
        >>> ffmpeg_url("/videos/concat:a.mp4|b.mp4")
        'file:/videos/concat:a.mp4|b.mp4'
    """
    return "file:" + os.path.abspath(os.fspath(path))


# (codec, pixel format, needs even size, default constant rate factor) per file ending.
FFMPEG_FORMATS: dict[str, tuple[str, str, bool, int | None]] = {
    ".mp4": ("libx264", "yuv420p", True, 18),
    ".m4v": ("libx264", "yuv420p", True, 18),
    ".mov": ("libx264", "yuv420p", True, 18),
    ".mkv": ("libx264", "yuv420p", True, 18),
    ".webm": ("libvpx-vp9", "yuv420p", True, 24),
    ".avi": ("ffv1", "bgr0", False, None),
}


def _last_line(err: BaseException | str) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def ffmpeg_write(p: Path, frames: np.ndarray, fps: float, crf: int | None) -> None:
    """Encode uint8 frames ``(T, H, W, 3)`` into ``p`` with FFmpeg; its exit status is checked.

    Raises:
        ValueError: an invalid ``crf``.
        OSError: FFmpeg failed (``errno.ENOSPC`` when the disk is full); ``p`` is removed.
    """
    import imageio_ffmpeg

    codec, pix_fmt, even, default_crf = FFMPEG_FORMATS[p.suffix.lower()]
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
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y", "-hide_banner", "-nostdin", "-v", "error",
        "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{width}x{height}", "-pix_fmt", "rgb24",
        "-r", str(Fraction(fps).limit_denominator(1001)), "-i", "pipe:0", "-an",
        "-vcodec", codec, "-pix_fmt", pix_fmt, *params, ffmpeg_url(p),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log)
        except OSError as err:
            raise OSError(f"could not run FFmpeg to write {p}: {err}") from err
        try:
            assert proc.stdin is not None
            try:
                for frame in frames:
                    proc.stdin.write(np.ascontiguousarray(frame).tobytes())
                proc.stdin.close()
            except BrokenPipeError:
                pass  # FFmpeg stopped: its exit status and log say why
            code = proc.wait()
        finally:  # every way out: no FFmpeg left behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            log.seek(0)
            text = log.read().decode(errors="replace")
            reason = _last_line(text) if text.strip() else f"exit code {code}"
            p.unlink(missing_ok=True)
            full = "No space left" in text or "Disk quota" in text
            if full:
                reason = "no space left on the device"
            raise OSError(
                errno.ENOSPC if full else errno.EIO,
                f"FFmpeg could not write {p} (exit code {code}): {reason}",
            )
