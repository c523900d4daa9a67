"""FFmpeg, the decoder and encoder of video files, called safely.

FFmpeg is the binary bundled with ``imageio-ffmpeg``. A local file is always opened as a local file,
whatever its name: FFmpeg gets the absolute path behind ``file:`` (`ffmpeg_url`) and may use
no protocol but ``file``, so a name such as ``concat:a.mp4|b.mp4`` or ``pipe:0`` is just a name;
and only the container formats of `VIDEO_DEMUXERS`, so a file's content (a playlist, a
concat list) cannot pull in other files either.
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from videoattr.io.errors import VideoReadError, VideoTooShortError

__all__ = [
    "FFMPEG_DECODE_OPTIONS",
    "FFMPEG_FORMATS",
    "FFMPEG_INPUT_OPTIONS",
    "VIDEO_DEMUXERS",
    "ffmpeg_count",
    "ffmpeg_read",
    "ffmpeg_timestamps",
    "ffmpeg_url",
    "ffmpeg_write",
]

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


FFMPEG_DECODE_OPTIONS: tuple[str, ...] = ("-fps_mode", "passthrough")
"""Output options of every decoding: the frames the file holds, each once, at its own timestamp
(never duplicated or dropped to make a constant frame rate out of a variable one)."""


def ffmpeg_count(p: Path, strict: bool) -> int:
    """The number of decodable video frames of ``p`` (FFmpeg decodes it once).

    See `ffmpeg_timestamps`, which this counts.
    """
    return len(ffmpeg_timestamps(p, strict))


def ffmpeg_timestamps(p: Path, strict: bool = True) -> list[float]:
    """The presentation time in seconds of every decodable video frame of ``p``, relative to the
    first, in decoding order (one FFmpeg pass that decodes the frames without transferring them).

    FFmpeg keeps each frame's own timestamp (``-fps_mode passthrough``, the stream's time base),
    so a variable-frame-rate video counts the frames it holds. FFmpeg logs only errors (stderr)
    and writes one line per frame (``framecrc``: stream, dts, pts, duration, size, checksum) to
    stdout.

    Raises:
        VideoReadError: FFmpeg cannot decode ``p``, or (``strict``) reports decoding errors.
    """
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner", "-nostdin", "-nostats", "-v", "error",
        *FFMPEG_INPUT_OPTIONS, "-i", ffmpeg_url(p),
        "-map", "0:v:0", *FFMPEG_DECODE_OPTIONS, "-enc_time_base", "demux", "-f", "framecrc", "-",
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL)
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
    base = Fraction(1, 1)
    pts: list[int] = []
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.startswith("#tb 0:"):
            num, _, den = line.split(":", 1)[1].strip().partition("/")
            base = Fraction(int(num), int(den or 1))
        elif line and not line.startswith("#"):
            fields = line.split(",")
            if len(fields) >= 3 and fields[0].strip() == "0":
                pts.append(int(fields[2]))
    if not pts:
        raise VideoReadError(f"could not decode video {p}: FFmpeg reported no video frames")
    first = min(pts)
    return [float((t - first) * base) for t in pts]


def _last_line(err: BaseException | str) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def ffmpeg_read(p: Path, indices: Sequence[int] | None) -> np.ndarray:
    """Decode ``p`` keeping the frames at ``indices`` (in that order; ``None``: all frames)."""
    import imageio_ffmpeg

    wanted = None if indices is None else set(indices)
    last = -1 if indices is None else max(indices)
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        reader = imageio_ffmpeg.read_frames(
            ffmpeg_url(p),
            pix_fmt="rgb24",
            input_params=list(FFMPEG_INPUT_OPTIONS),
            output_params=list(FFMPEG_DECODE_OPTIONS),
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
