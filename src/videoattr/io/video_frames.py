"""A video's sampled frames at a model's input size: [`VideoFrames`][videoattr.io.video_frames.VideoFrames]
and [`read_frames`][videoattr.io.video_frames.read_frames], which reads them a chunk of frames at a
time (what whole-video explanations cut into windows, see `videoattr.pipeline.whole_video`).

**Memory.** [`read_frames`][videoattr.io.video_frames.read_frames] decodes a file 16 frames at a
time, in one decoding pass, and keeps every sampled frame at the model's input size as uint8:
``M x H x W x 3`` bytes (3000 frames at 112x112: 113 MB; at 224x224: 452 MB). The frames are filled
in place into a tensor sized by the frame count the container states; where it states none (or a
wrong one) the frames are held twice for a moment at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from videoattr.core.batching import chunk_slices
from videoattr.core.validation import check_positive_int, describe
from videoattr.io.errors import VideoReadError, VideoTooShortError
from videoattr.io.frames import center_crop, resize_frames
from videoattr.io.preprocessing import to_clip
from videoattr.io.streaming import iter_frames, video_fps

__all__ = ["VideoFrames", "read_frames"]


class _Preprocessing(Protocol):
    """A zoo adapter's preprocessing ([`Preprocessing`][videoattr.zoo.Preprocessing])."""

    resize: tuple[int] | tuple[int, int]
    crop: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    antialias: bool


@dataclass(frozen=True, repr=False)
class VideoFrames:
    """The sampled frames of one video, ready to be cut into windows.

    Attributes:
        frames: uint8 frames ``(M, H, W, 3)`` at the model's input size (normalised per window with
            ``mean``/``std``), or a normalised float clip ``(C, M, H, W)``.
        frame_indices: ``(M,)`` the video frame of each sampled frame (``0, s, 2s, ...``).
        num_frames: ``N``, the number of frames of the video.
        fps: the video's frame rate, or ``None`` when unknown.
        mean: per-channel mean of the normalisation (uint8 frames). Default zeros.
        std: per-channel standard deviation of the normalisation (uint8 frames). Default ones.
        source: what errors and pictures call the video.
        timestamps: the presentation time in seconds of each of the ``N`` video frames (from the
            file; a variable frame rate keeps its own times), or ``None`` when unknown (then times
            are ``frame / fps``).
    """

    frames: Tensor
    frame_indices: Tensor
    num_frames: int
    fps: float | None = None
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    source: str = "video"
    timestamps: tuple[float, ...] | None = None

    @property
    def is_clip(self) -> bool:
        """Whether the frames are a normalised float clip (not uint8 frames)."""
        return self.frames.is_floating_point()

    def __len__(self) -> int:
        """``M``, the number of sampled frames."""
        return int(self.frames.shape[1] if self.is_clip else self.frames.shape[0])

    @property
    def frame_step(self) -> int:
        """``s``: every ``s``-th video frame was kept."""
        idx = self.frame_indices
        return int(idx[1] - idx[0]) if idx.numel() > 1 else 1

    def windows(
        self,
        starts: Sequence[int],
        clip_len: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """The normalised windows ``(B, C, T, H, W)`` starting at sampled positions ``starts``.

        Frames past the last are the last frame repeated (only a video shorter than one window has
        them).
        """
        m = len(self)
        idx = torch.tensor(
            [[min(p + j, m - 1) for j in range(clip_len)] for p in starts], dtype=torch.long
        )
        if self.is_clip:
            x = self.frames[:, idx.to(self.frames.device)].permute(1, 0, 2, 3, 4)
            return x.to(device=device if device is not None else x.device)
        return to_clip(self.frames[idx], self.mean, self.std, device=device, dtype=dtype)

    def pictures(self) -> Tensor:
        """uint8 frames ``(M, H, W, 3)`` for pictures (float clips are de-normalised)."""
        if not self.is_clip:
            return self.frames
        from videoattr.io.preprocessing import denormalize

        return denormalize(self.frames.detach().cpu(), self.mean, self.std)

    def __repr__(self) -> str:
        kind = "clip" if self.is_clip else "uint8 frames"
        return (
            f"VideoFrames({self.source!r}, {len(self)} of {self.num_frames} frames (frame_step "
            f"{self.frame_step}), {kind} {tuple(self.frames.shape)}, fps={self.fps})"
        )

    @classmethod
    def from_clip(
        cls,
        clip: Tensor,
        *,
        frame_step: int = 1,
        num_frames: int | None = None,
        fps: float | None = None,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        source: str = "video",
    ) -> VideoFrames:
        """A normalised float clip ``(1, C, M, H, W)`` or ``(C, M, H, W)`` whose frames are the
        video's frames ``0, frame_step, ...`` (``mean``/``std`` only serve the pictures).

        Raises:
            ValueError: a clip of another shape, or ``num_frames`` that the frames cannot come from.
        """
        if not isinstance(clip, Tensor) or not clip.is_floating_point():
            raise TypeError(f"clip must be a float tensor (1, C, M, H, W); got {describe(clip)}")
        if clip.dim() == 5 and clip.shape[0] == 1:
            clip = clip[0]
        if clip.dim() != 4:
            raise ValueError(
                f"clip must have shape (1, C, M, H, W) or (C, M, H, W); got {tuple(clip.shape)}"
            )
        return cls._make(clip, clip.shape[1], frame_step, num_frames, fps, mean, std, source)

    @classmethod
    def _make(
        cls,
        frames: Tensor,
        m: int,
        frame_step: int,
        num_frames: int | None,
        fps: float | None,
        mean: Sequence[float],
        std: Sequence[float],
        source: str,
    ) -> VideoFrames:
        step = check_positive_int(frame_step, "frame_step")
        if m == 0:
            raise VideoTooShortError(f"{source} has 0 frames; cannot explain it")
        n = (m - 1) * step + 1 if num_frames is None else int(num_frames)
        if not (m - 1) * step < n <= m * step:
            raise ValueError(
                f"num_frames={n} does not match {m} sampled frames taken every {step} frames "
                f"(expected {(m - 1) * step + 1} .. {m * step})"
            )
        return cls(
            frames=frames,
            frame_indices=torch.arange(m) * step,
            num_frames=n,
            fps=fps,
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            source=source,
        )


def read_frames(
    video: str | Path | Tensor,
    model: Any = None,
    *,
    frame_step: int = 1,
    preprocessing: _Preprocessing | None = None,
    chunk_size: int = 16,
    strict: bool = True,
) -> VideoFrames:
    """Read a video's sampled frames at the model's input size, a chunk of frames at a time.

    Each chunk is resized and centre-cropped as the model's preprocessing does (the same
    arithmetic as [`to_clip`][videoattr.io.to_clip], so a window equals the clip the adapter's
    ``preprocess`` makes of the same frames) and kept as uint8; the normalisation is applied per
    window.

    Args:
        video: a video file, a ``.gif``, a folder of frame images, or uint8 frames ``(N, H, W, 3)``
            already in memory.
        model: a zoo adapter (its ``preprocessing`` is used), or ``None`` with ``preprocessing``.
        frame_step: keep video frames ``0, frame_step, 2 frame_step, ...``. Default 1.
        preprocessing: resize, crop, mean, std and antialias setting (a
            [`Preprocessing`][videoattr.zoo.Preprocessing]); default the model's.
        chunk_size: frames decoded and resized at a time. Default 16.
        strict: refuse damaged video files (see [`read_video`][videoattr.io.read_video]). Default
            ``True``.

    Returns:
        [`VideoFrames`][videoattr.pipeline.VideoFrames] with uint8 frames ``(M, h, w, 3)``, the
        video's frame count and (for files) its frame rate.

    Raises:
        TypeError: neither a model with a ``preprocessing`` nor ``preprocessing`` given.
        VideoTooShortError: the video has no frames.
        VideoReadError: the video cannot be decoded.
    """
    prep = preprocessing if preprocessing is not None else getattr(model, "preprocessing", None)
    if prep is None or not all(
        hasattr(prep, a) for a in ("resize", "crop", "mean", "std", "antialias")
    ):
        raise TypeError(
            "read_frames needs a zoo adapter (with a preprocessing) or preprocessing=...; got "
            f"model={describe(model)}"
        )
    step = check_positive_int(frame_step, "frame_step")
    r = tuple(prep.resize)
    size: int | tuple[int, int] = r[0] if len(r) == 1 else (r[0], r[1])

    def shrink(chunk: Tensor) -> Tensor:
        return center_crop(resize_frames(chunk, size, antialias=prep.antialias), prep.crop)

    if isinstance(video, Tensor):
        from videoattr.io.frames import as_frames

        frames = as_frames(video, "video")
        n = frames.shape[0]
        kept = frames[::step]
        parts = (kept[sl] for sl in chunk_slices(kept.shape[0], chunk_size))
        out = _gather(map(shrink, parts), lambda: kept.shape[0], "video")
        return VideoFrames._make(out, out.shape[0], step, n, None, prep.mean, prep.std, "video")
    from videoattr.io.reading import _existing

    p = _existing(video)
    if p.is_dir() or p.suffix.lower() == ".gif":
        from videoattr.io.reading import count_frames

        n = count_frames(p, strict=strict)
        chunks = iter_frames(p, step=step, chunk_size=chunk_size, strict=False)
        out = _gather(map(shrink, chunks), lambda: -(-n // step), str(video))
        count = n if out.shape[0] == -(-n // step) else None  # else trust the decoded frames
        fps = video_fps(p)
        source = str(video)
        return VideoFrames._make(out, out.shape[0], step, count, fps, prep.mean, prep.std, source)
    return _read_video_file(p, str(video), step, chunk_size, strict, shrink, prep)


def _read_video_file(
    p: Path,
    source: str,
    step: int,
    chunk_size: int,
    strict: bool,
    shrink: Callable[[Tensor], Tensor],
    prep: _Preprocessing,
) -> VideoFrames:
    """[`read_frames`][videoattr.io.video_frames.read_frames] of a video file: one decoding pass
    gives the sampled frames, every frame's timestamp (hence the count) and the nominal rate."""
    from videoattr.io.decoding import DecodingPass
    from videoattr.io.streaming import frame_rate

    decoding = DecodingPass(p, step, chunk_size, strict)
    chunks = (shrink(torch.from_numpy(c)) for c, _ in decoding)
    out = _gather(chunks, lambda: -(-decoding.stated_frames // step), source, empty_ok=True)
    timeline = decoding.timeline
    if not len(timeline):
        raise VideoReadError(f"could not decode video {p}: it has no decodable video frame")
    times = timeline.times()
    fps = decoding.rate if times is None else frame_rate(times, decoding.rate)
    made = VideoFrames._make(
        out, out.shape[0], step, len(timeline), fps, prep.mean, prep.std, source
    )
    return made if times is None else replace(made, timestamps=tuple(times))


def _gather(
    chunks: Iterator[Tensor], capacity: Callable[[], int], source: str, *, empty_ok: bool = False
) -> Tensor:
    """Join shrunk frame chunks ``(n, h, w, 3)`` into ``(M, h, w, 3)``.

    ``capacity()`` (asked once the first chunk is there) is how many frames to expect: they are
    filled in place into one tensor of that size, so the frames are never held twice; ``0`` (not
    known): the chunks are joined at the end. More or fewer frames than expected are kept as
    decoded.

    Raises:
        VideoTooShortError: no frame at all (``empty_ok``: an empty ``(0, 0, 0, 3)`` tensor).
    """
    out: Tensor | None = None
    filled = 0
    extra: list[Tensor] = []
    for small in chunks:
        if out is None:
            out = small.new_empty((max(capacity(), 0), *small.shape[1:]))
        take = max(0, min(len(small), out.shape[0] - filled))
        out[filled : filled + take] = small[:take]
        filled += take
        if take < len(small):  # more frames than expected
            extra.append(small[take:])
    if out is None or filled + sum(len(e) for e in extra) == 0:
        if empty_ok:
            return torch.zeros((0, 0, 0, 3), dtype=torch.uint8)
        raise VideoTooShortError(f"{source} has 0 frames; cannot explain it")
    if extra:
        return torch.cat([out[:filled], *extra])
    return out if filled == out.shape[0] else out[:filled].clone()
