"""Decoding video files in process with PyAV (FFmpeg's libraries): timelines, chunks and frames.

Files are opened only through [`open_video`][videoattr.io.safe_opening.open_video] (a local
regular file handed to FFmpeg as a file object, no protocol, video containers only; see
[`videoattr.io.safe_opening`][videoattr.io.safe_opening]).

Decoded frames keep their presentation timestamps (``pts * time_base``): a variable-frame-rate
video gives the frames it holds, each once, at its own time; a clip in the middle of a long video
is read by seeking to the key frame before it.

One decoding pass without pixel conversion gives a file's [`Timeline`][videoattr.io.decoding.Timeline]
(its frames' timestamps and key frames, hence their count) and, in strict mode, any damage: every
error FFmpeg logs while decoding makes the pass fail, as the ``ffmpeg`` command would report it.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from videoattr.io.errors import VideoReadError, VideoTooShortError
from videoattr.io.safe_opening import VIDEO_DEMUXERS as VIDEO_DEMUXERS  # importable here too
from videoattr.io.safe_opening import ErrorWatch, open_video

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

__all__ = [
    "DecodingPass",
    "Timeline",
    "decode_all",
    "decode_chunks",
    "decode_frames",
    "decode_timeline",
    "nominal_rate",
]


@dataclass(frozen=True)
class Timeline:
    """The frames of a video file, in presentation order, as one decoding pass found them.

    Attributes:
        pts: each frame's presentation timestamp in units of ``time_base`` (``None`` where the
            file gives none).
        keyframes: the indices of the key frames (where decoding can start after a seek).
        time_base: the video stream's time base, seconds per ``pts`` unit.
    """

    pts: tuple[int | None, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction

    def __len__(self) -> int:
        return len(self.pts)

    def times(self) -> list[float] | None:
        """Each frame's time in seconds after the first frame; ``None`` when a frame has no
        timestamp."""
        if any(t is None for t in self.pts):
            return None
        values = [t for t in self.pts if t is not None]
        first = min(values, default=0)
        return [float((t - first) * self.time_base) for t in values]

    def seekable(self) -> bool:
        """Whether frames can be found by timestamp: every frame has one, strictly increasing."""
        pts = self.pts
        if any(t is None for t in pts):
            return False
        return all(a < b for a, b in itertools.pairwise(pts))  # type: ignore[operator]

    def keyframe_before(self, index: int) -> int:
        """The last key frame at or before frame ``index`` (0 when none is marked)."""
        at = bisect.bisect_right(self.keyframes, index)
        return self.keyframes[at - 1] if at else 0


def _decoded(
    p: Path, container: InputContainer, stream: VideoStream, strict: bool
) -> Iterator[VideoFrame]:
    """The decoded frames of ``stream``, in presentation order, from the container's position.

    ``strict``: any error FFmpeg raises or logs ends the decoding with a
    [`VideoReadError`][videoattr.io.VideoReadError]. Else a packet that fails to decode is skipped
    and a demuxing error ends the file (the frames the decoder still holds are returned).
    """
    import av

    watch = ErrorWatch()
    codec = stream.codec_context
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets, None)
        except (av.FFmpegError, OSError) as err:  # the file cannot be read further
            if strict:
                raise watch.damage(p, err) from err
            packet = None
        if packet is not None and packet.size == 0:
            continue  # empty: PyAV's flush packet, or a dropped frame of an AVI; None flushes
        try:
            frames = codec.decode(packet)
        except av.EOFError:  # flushed already
            return
        except (av.FFmpegError, OSError) as err:
            if strict:
                raise watch.damage(p, err) from err
            frames = []
        yield from frames
        if strict and watch.logged():
            raise watch.damage(p)
        if packet is None:
            return


def _pts(frame: VideoFrame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def _rgb(frame: VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def decode_timeline(p: Path, strict: bool = True) -> Timeline:
    """Decode ``p`` once without converting its pixels: the frames' timestamps and key frames.

    Raises:
        VideoReadError: ``p`` cannot be decoded, has no decodable frame, or (``strict``) FFmpeg
            reports any error while decoding it.
    """
    pts: list[int | None] = []
    keys: list[int] = []
    with open_video(p) as (container, stream):
        time_base = stream.time_base or Fraction(1, 1)
        for i, frame in enumerate(_decoded(p, container, stream, strict)):
            pts.append(_pts(frame))
            if frame.key_frame:
                keys.append(i)
    if not pts:
        raise VideoReadError(f"could not decode video {p}: it has no decodable video frame")
    return Timeline(tuple(pts), tuple(keys), Fraction(time_base))


def decode_all(p: Path, strict: bool = True) -> np.ndarray:
    """Every frame of ``p``, uint8 ``(T, H, W, 3)`` RGB (``T`` may be 0), in one pass.

    Raises:
        VideoReadError: ``p`` cannot be decoded, or (``strict``) is damaged.
    """
    with open_video(p) as (container, stream):
        frames = [_rgb(f) for f in _decoded(p, container, stream, strict)]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def decode_chunks(
    p: Path, step: int, chunk_size: int, strict: bool
) -> Iterator[tuple[np.ndarray, list[float | None]]]:
    """Frames ``0, step, 2 step, ...`` of ``p`` in chunks of at most ``chunk_size``, one pass.

    Yields ``(frames, times)``: uint8 ``(n, H, W, 3)`` RGB and each frame's time in seconds after
    the first frame of the file (``None`` where it has no timestamp). Only one chunk is held at a
    time; the file stays open until the iterator is exhausted or closed. A
    [`DecodingPass`][videoattr.io.decoding.DecodingPass] yields the same and also records the
    file's timeline.

    Raises:
        VideoReadError: ``p`` cannot be decoded, or (``strict``) FFmpeg reports an error; raised
            when met, after the chunks decoded before it.
    """
    return iter(DecodingPass(p, step, chunk_size, strict))


class DecodingPass:
    """One decoding pass over the video file ``p`` that yields frames ``0, step, 2 step, ...`` in
    chunks, as [`decode_chunks`][videoattr.io.decoding.decode_chunks] does, and records on the way
    what a separate pass without pixels would give: the file's
    [`Timeline`][videoattr.io.decoding.Timeline] (every frame, kept or not) and its nominal rate.

    Iterate it once, to the end; then read ``timeline``. ``stated_frames`` (the frame count the
    container states, ``0`` when it states none; a hint, not a count) and ``rate`` (see
    [`nominal_rate`][videoattr.io.decoding.nominal_rate]) are known once the first chunk is
    yielded.

    Args:
        p: the video file.
        step: keep one frame in ``step``.
        chunk_size: the most frames in one chunk.
        strict: refuse damage as [`decode_chunks`][videoattr.io.decoding.decode_chunks] does.
    """

    def __init__(self, p: Path, step: int, chunk_size: int, strict: bool) -> None:
        self.p, self.step, self.chunk_size, self.strict = p, step, chunk_size, strict
        self.stated_frames = 0
        self.rate: float | None = None
        self._timeline: Timeline | None = None

    @property
    def timeline(self) -> Timeline:
        """Every decoded frame's timestamp and the key frames (possibly empty).

        Raises:
            RuntimeError: the pass has not been iterated to its end.
        """
        if self._timeline is None:
            raise RuntimeError(f"the decoding pass over {self.p} has not finished")
        return self._timeline

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[float | None]]]:
        p, step = self.p, self.step
        with open_video(p) as (container, stream):
            self.stated_frames = max(int(stream.frames or 0), 0)
            self.rate = _stream_rate(stream)
            time_base = Fraction(stream.time_base or Fraction(1, 1))
            pts: list[int | None] = []
            keys: list[int] = []
            first: int | None = None
            frames: list[np.ndarray] = []
            times: list[float | None] = []
            for i, frame in enumerate(_decoded(p, container, stream, self.strict)):
                t = _pts(frame)
                first = t if first is None else first
                pts.append(t)
                if frame.key_frame:
                    keys.append(i)
                if i % step:
                    continue
                frames.append(_rgb(frame))
                times.append(None if t is None or first is None else float((t - first) * time_base))
                if len(frames) == self.chunk_size:
                    yield np.stack(frames), times
                    frames, times = [], []
            if frames:
                yield np.stack(frames), times
            self._timeline = Timeline(tuple(pts), tuple(keys), time_base)


def decode_frames(p: Path, indices: Sequence[int], timeline: Timeline) -> np.ndarray:
    """The frames of ``p`` at ``indices`` (in that order), uint8 ``(len(indices), H, W, 3)`` RGB.

    ``timeline`` (from [`decode_timeline`][videoattr.io.decoding.decode_timeline]) gives each
    frame's timestamp: the reader seeks to the key frame before a wanted frame when one lies
    ahead, and finds the frame by its timestamp. Where a file's timestamps are missing or not
    increasing, or a seek does not land where its index says, the file is decoded from its start,
    frames counted in decoding order. Damage is not checked here (the timeline's pass does).

    Raises:
        VideoTooShortError: the file ends before an index.
        VideoReadError: ``p`` cannot be decoded.
    """
    wanted = sorted(set(indices))
    kept: dict[int, np.ndarray] | None = None
    if timeline.seekable():
        with open_video(p) as (container, stream):
            kept = _seek_read(p, container, stream, wanted, timeline)
    if kept is None:
        with open_video(p) as (container, stream):
            kept = _sequential_read(p, container, stream, wanted)
    missing = [i for i in wanted if i not in kept]
    if missing:
        raise VideoTooShortError(
            f"video {p} ended before frames {missing[:10]} (its counting pass found "
            f"{len(timeline)} frames)"
        )
    return np.stack([kept[i] for i in indices])


def _sequential_read(
    p: Path, container: InputContainer, stream: VideoStream, wanted: list[int]
) -> dict[int, np.ndarray]:
    keep = set(wanted)
    last = wanted[-1] if wanted else -1
    kept: dict[int, np.ndarray] = {}
    for i, frame in enumerate(_decoded(p, container, stream, strict=False)):
        if i > last:
            break
        if i in keep:
            kept[i] = _rgb(frame)
    return kept


def _seek_read(
    p: Path,
    container: InputContainer,
    stream: VideoStream,
    wanted: list[int],
    timeline: Timeline,
) -> dict[int, np.ndarray] | None:
    """``wanted`` frames by seeking and timestamps; ``None`` where a seek misses its frame."""
    index_of = {t: i for i, t in enumerate(timeline.pts)}
    kept: dict[int, np.ndarray] = {}
    frames: Iterator[VideoFrame] | None = None
    position = -1  # the index of the last frame decoded
    for target in wanted:
        key = timeline.keyframe_before(target)
        if frames is None or key > position + 1:  # a key frame ahead: jump to it
            if frames is not None or key > 0:
                at = timeline.pts[key]
                assert at is not None  # a seekable timeline has every timestamp
                container.seek(at, stream=stream, backward=True, any_frame=False)
            frames = _decoded(p, container, stream, strict=False)
        for frame in frames:
            i = index_of.get(_pts(frame))
            if i is None or i > target:
                return None  # not the file the timeline describes, or a seek past the frame
            position = i
            if i == target:
                kept[target] = _rgb(frame)
                break
        else:
            return None
    return kept


def nominal_rate(p: Path) -> float | None:
    """The frame rate the container of ``p`` states (frames per second), ``None`` if none."""
    with open_video(p) as (_, stream):
        return _stream_rate(stream)


def _stream_rate(stream: VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate is not None and rate > 0 else None
