"""Opening video files for FFmpeg (through PyAV) safely, with FFmpeg's errors counted.

Every video file is opened by videoattr itself, as a local file, and handed to FFmpeg as a file
object: no name is ever read as a URL, so ``concat:a.mp4|b.mp4``, ``pipe:0`` or
``subfile,,start,0,end,0,,:x`` is just a file name. The file is opened without waiting (a named
pipe is refused at once, never waited on) and must be a regular file. FFmpeg may then use no
protocol (a demuxer cannot open a second file) and only the container formats of
`VIDEO_DEMUXERS`, so a file's content (a playlist, a concat list) cannot pull in other files.

While a video is open, the errors FFmpeg logs are counted (an [`ErrorWatch`][videoattr.io.safe_opening.ErrorWatch]
reads them), so that strict decoding in [`videoattr.io.decoding`][videoattr.io.decoding] can refuse
a damaged file as the ``ffmpeg`` command would report it.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videoattr.io.errors import VideoReadError

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

__all__ = ["VIDEO_DEMUXERS", "ErrorWatch", "open_video"]

VIDEO_DEMUXERS: tuple[str, ...] = (
    "mov", "mp4", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "mpegvideo", "ogg", "asf",
    "gif", "h264", "hevc", "m4v", "mjpeg", "nut", "ivf", "obu", "yuv4mpegpipe", "dv", "mxf", "rm",
)  # fmt: skip
"""The FFmpeg demuxers videoattr lets decode a file: video containers and raw video streams.

Playlists and lists of other files (``concat``, ``hls``, ``dash``, ``image2``) are not among them,
so a file's content cannot make FFmpeg read other files either.
"""

_OPEN_OPTIONS = {
    "format_whitelist": ",".join(VIDEO_DEMUXERS),
    "protocol_whitelist": "none",  # no protocol at all: the file object is the only input
}
_BUFFER_BYTES = 1 << 18  # bytes FFmpeg reads from the file object at a time


def _open_local_file(p: Path) -> int:
    """A read-only descriptor of the regular file ``p``; a pipe, socket or device is refused
    without being waited on (opened non-blocking, checked with ``fstat``)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"video not found: {p} (no such file or folder)") from err
    except OSError as err:
        raise VideoReadError(f"could not open video {p}: {err.strerror or err}") from err
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise VideoReadError(
                f"{p} is not a regular file (a pipe, socket or device): videoattr reads videos "
                "only from files"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _reason(err: BaseException) -> str:
    """One line saying why FFmpeg failed: its error and the last error it logged."""
    import av

    if isinstance(err, av.FFmpegError):
        text = err.strerror or type(err).__name__
        entry: Any = err.log  # (level, name, message), or (count, that) in older PyAV
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], tuple):
            entry = entry[1]
        if isinstance(entry, tuple) and len(entry) == 3 and str(entry[2]).strip():
            name, message = str(entry[1]), str(entry[2]).strip()
            if "not on whitelist" in message:
                return (
                    f"its container format ({name}) is not a video container format videoattr "
                    f"reads ({', '.join(VIDEO_DEMUXERS)})"
                )
            text = f"{text} ({message})"
        return text
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


@contextmanager
def open_video(p: Path) -> Iterator[tuple[InputContainer, VideoStream]]:
    """Open the local video file ``p`` with PyAV: its container and first video stream.

    The file is opened as a file object (no name is read as a URL), with no protocol and only
    the container formats of `VIDEO_DEMUXERS` allowed; decoding uses FFmpeg's threads. While it
    is open, FFmpeg's errors are counted: where the user set no PyAV log level, the level is
    ``PANIC`` (nothing printed) until the last open video is closed, then ``None`` again.

    Raises:
        FileNotFoundError: ``p`` does not exist.
        VideoReadError: ``p`` is not a regular file, is not a video FFmpeg can open with those
            formats, or has no video stream (the message names it).
    """
    import av

    with _errors_counted(), os.fdopen(_open_local_file(p), "rb", buffering=0) as file:
        try:
            container = av.open(
                file, "r", container_options=_OPEN_OPTIONS, buffer_size=_BUFFER_BYTES
            )
        except (av.FFmpegError, OSError, ValueError) as err:
            raise VideoReadError(f"could not decode video {p}: {_reason(err)}") from err
        try:
            if not container.streams.video:
                raise VideoReadError(f"could not decode video {p}: the file has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise VideoReadError(
                    f"could not decode video {p}: FFmpeg has no decoder for its video stream"
                )
            stream.thread_type = "AUTO"  # frame and slice threads, as the ffmpeg command uses
            yield container, stream
        finally:
            _release(container)


def _release(container: InputContainer) -> None:
    """Close ``container`` once its decoder threads are idle.

    PyAV frees a codec context holding Python's lock; a decoder thread still at work (decoding
    stopped early, or a damaged file refused) that logs an error then waits for that lock, and
    the freeing waits for the thread. Flushing the decoders first (without the lock) waits until
    every thread is done.
    """
    for stream in container.streams:
        codec = getattr(stream, "codec_context", None)
        if codec is not None:
            codec.flush_buffers()
    container.close()


_log_lock = threading.Lock()
_log_users = 0  # decodings in progress that need FFmpeg's errors counted
_log_level_set = False  # whether videoattr set PyAV's level (the user had set none)


@contextmanager
def _errors_counted() -> Iterator[None]:
    """A block in which FFmpeg's errors are counted, leaving PyAV's log level as the user set it.

    PyAV counts FFmpeg's errors (and names the last one in its exceptions) only while a log level
    is set. Where the user set none (PyAV's default: FFmpeg's log ignored), the level is
    ``PANIC`` while decodings are in progress (nothing is printed) and ``None`` again when the
    last of them ends. A level the user set before is left alone, and so is one set meanwhile
    (unless it is ``PANIC``, which reads as videoattr's own).
    """
    global _log_users, _log_level_set
    import av.logging

    with _log_lock:
        if _log_users == 0 and av.logging.get_level() is None:
            av.logging.set_level(av.logging.PANIC)
            _log_level_set = True
        _log_users += 1
    try:
        yield
    finally:
        with _log_lock:
            _log_users -= 1
            if _log_users == 0 and _log_level_set:
                _log_level_set = False
                if av.logging.get_level() == av.logging.PANIC:
                    av.logging.set_level(None)


def _count_errors() -> int:
    """How many errors FFmpeg has logged in this process so far (counted inside
    [`open_video`][videoattr.io.safe_opening.open_video], see `_errors_counted`)."""
    import av.logging

    return int(av.logging.get_last_error()[0])


class ErrorWatch:
    """The errors FFmpeg logs from its creation on (from any thread: a decoder's threads log
    too, so a decoding elsewhere in the process at the same time is counted as well).

    Create it inside [`open_video`][videoattr.io.safe_opening.open_video] (where errors are
    counted); strict decoding asks it after each packet whether FFmpeg logged an error.
    """

    def __init__(self) -> None:
        self.start = _count_errors()

    def logged(self) -> int:
        """How many errors FFmpeg logged since the watch began."""
        return _count_errors() - self.start

    def damage(self, p: Path, raised: BaseException | None = None) -> VideoReadError:
        """The error for a damaged ``p``: FFmpeg logged errors, or raised ``raised``."""
        import av.logging

        last = av.logging.get_last_error()[1]
        reason = _reason(raised) if raised is not None else (last[2].strip() if last else "?")
        return VideoReadError(
            f"video {p} is damaged: FFmpeg reported {max(self.logged(), 1)} decoding errors, the "
            f"last: {reason!r} (pass strict=False to use what decodes anyway)"
        )
