"""Whole videos: explain a long video with sliding windows of the model's clip length.

A model sees clips of ``T`` frames; a video has ``N`` frames, often thousands. [`explain_video`][videoattr.pipeline.explain_video]
cuts the video into windows of ``T`` frames, scores every window with the model (the *timeline*:
the target's probability per window), explains every window with any attributor through its public
``attribute`` and stitches the maps over time into one map per frame.

**Frames and windows.** The video's frames ``0, s, 2s, ...`` are kept (``s = frame_step``, default 1:
every frame; 2 for a model trained on every other frame of 25 fps video), ``M = ceil(N / s)`` *sampled
frames*. Window ``k`` is ``T`` consecutive sampled frames starting at sampled position ``p_k``:
video frames ``p_k s, (p_k + 1) s, ..., (p_k + T - 1) s``. The positions are ``0, S, 2S, ...`` for the
``stride`` ``1 <= S <= T`` (default ``T // 2``: every frame lies in two windows, except near the ends) while a
window fits, plus **one last window aligned to the end** (``p = M - T``) when the regular ones leave
frames at the tail uncovered (``(M - T) % S != 0``); so every frame lies in at least one window.

**Stitching.** The map of a sampled frame is the mean of the maps that the windows covering it give
that frame (``A`` maps per window: 1 for gradient and CAM methods, one per area for perturbation
masks), as the methods return them: no per-window normalisation, so a window whose attribution is
larger weighs more. The result holds one map per *sampled* frame, ``(A, M, H, W)``, with the video
frame of each (``frame_indices``); [`VideoExplanation.per_video_frame`][videoattr.pipeline.windows.VideoExplanation.per_video_frame]
gives one map per video frame by holding each sampled frame's map until the next (identical when
``frame_step = 1``).

**One target.** The stitched map is about one class for the whole video: the one given (index or
class name), or by default the class with the highest mean probability over the windows. Several
targets: [`explain_video_classes`][videoattr.pipeline.explain_video_classes] (a list of classes, or
the top ``k``) reads the video and scores its windows once and yields one explanation per class.

**Short videos.** A video with fewer sampled frames than ``T`` gives one window whose tail repeats
the last frame (``short_video="pad"``, the default; the result's ``padded`` says how many frames were
added, and the maps of those frames are dropped), or raises
[`VideoTooShortError`][videoattr.io.VideoTooShortError] with ``short_video="error"``.

**Memory.** Windows go through the model ``max_batch_size`` at a time (scores and attributions),
so the model's memory does not grow with the video. [`read_frames`][videoattr.pipeline.read_frames]
decodes a file 16 frames at a time and keeps every sampled frame at the model's input size as uint8,
filled in place: ``M x H x W x 3`` bytes (3000 frames at 112x112: 113 MB; at 224x224: 452 MB); the
stitched maps are float32 on the CPU, ``A x M x H x W x 4`` bytes (3000 frames at 112x112: 150 MB
per map).

Example:
    >>> model = videoattr.zoo.load("demo")  # doctest: +SKIP
    >>> video = read_frames("long.mp4", model)  # doctest: +SKIP
    >>> result = explain_video(model, "grad_cam", video, stride=8, max_batch_size=4)  # doctest: +SKIP
    >>> result.maps.shape, result.target_probability.shape  # doctest: +SKIP
    (torch.Size([1, 3000, 56, 56]), torch.Size([374]))
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

from videoattr.core.batching import chunk_slices
from videoattr.core.state import model_session
from videoattr.core.targets import Target, TargetRequest, parse_target, target_classes
from videoattr.core.validation import check_choice, check_positive_int, describe
from videoattr.datasets.folders import class_from_label
from videoattr.io.errors import VideoTooShortError
from videoattr.io.frames import center_crop, resize_frames
from videoattr.io.preprocessing import to_clip
from videoattr.io.streaming import iter_frames, video_fps
from videoattr.pipeline.methods import AttributorLike, Method, as_method

__all__ = [
    "DEFAULT_WINDOW_BATCH",
    "SHORT_VIDEO",
    "VideoExplanation",
    "VideoFrames",
    "explain_video",
    "explain_video_classes",
    "read_frames",
    "score_windows",
    "window_starts",
]

#: Windows per model call when neither ``max_batch_size`` nor the attributor's bound is given.
DEFAULT_WINDOW_BATCH = 8
#: What a video shorter than one window does: repeat its last frame, or raise.
SHORT_VIDEO: tuple[str, ...] = ("pad", "error")
ShortVideo = Literal["pad", "error"]


class _Preprocessing(Protocol):
    """A zoo adapter's preprocessing ([`Preprocessing`][videoattr.zoo.Preprocessing])."""

    resize: tuple[int] | tuple[int, int]
    crop: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    antialias: bool


def window_starts(num_frames: int, clip_len: int, stride: int) -> list[int]:
    """Start positions of the windows over ``num_frames`` (sampled) frames.

    ``0, stride, 2 stride, ...`` while a window of ``clip_len`` frames fits, then ``num_frames -
    clip_len`` when frames at the end are left uncovered; ``[0]`` when the video is shorter than
    one window.

    Raises:
        ValueError: an argument that is not a positive int, or ``stride > clip_len`` (frames
            between windows would be left out).

    Example:
        >>> window_starts(20, 8, 4)
        [0, 4, 8, 12]
        >>> window_starts(23, 8, 4)
        [0, 4, 8, 12, 15]
        >>> window_starts(5, 8, 4)
        [0]
    """
    n = check_positive_int(num_frames, "num_frames")
    t = check_positive_int(clip_len, "clip_len")
    s = check_positive_int(stride, "stride")
    if s > t:
        raise ValueError(
            f"stride must be at most clip_len={t} (a larger stride leaves frames between windows "
            f"unexplained); got stride={s}"
        )
    if n <= t:
        return [0]
    starts = list(range(0, n - t + 1, s))
    if starts[-1] + t < n:
        starts.append(n - t)
    return starts


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

    times: list[float] | None = None
    if isinstance(video, Tensor):
        from videoattr.io.frames import as_frames

        frames = as_frames(video, "video")
        n = frames.shape[0]
        kept = frames[::step]
        chunks: Iterator[Tensor] = (kept[sl] for sl in chunk_slices(kept.shape[0], chunk_size))
        fps, source = None, "video"
    else:
        from videoattr.io.reading import count_frames
        from videoattr.io.streaming import frame_rate, video_timestamps

        # one FFmpeg pass: the frames' times, their count and (strict) any damage
        times = video_timestamps(video, strict=strict)
        n = len(times) if times is not None else count_frames(video, strict=strict)
        chunks = iter_frames(video, step=step, chunk_size=chunk_size, strict=False)
        fps, source = video_fps(video), str(video)
        if times is not None:
            fps = frame_rate(times, fps)
    expected = -(-n // step)
    out: Tensor | None = None  # filled in place: the frames are never held twice
    filled = 0
    extra: list[Tensor] = []
    for chunk in chunks:
        small = shrink(chunk)
        if out is None:
            out = small.new_empty((expected, *small.shape[1:]))
        take = max(0, min(len(small), expected - filled))
        out[filled : filled + take] = small[:take]
        filled += take
        if take < len(small):  # the decoder found more frames than the count said
            extra.append(small[take:])
    if out is None or filled == 0:
        raise VideoTooShortError(f"{source} has 0 frames; cannot explain it")
    out = torch.cat([out[:filled], *extra]) if extra or filled < expected else out
    count: int | None = None if filled < expected or extra else n  # else trust the decoded frames
    made = VideoFrames._make(out, out.shape[0], step, count, fps, prep.mean, prep.std, source)
    if times is not None and len(times) == made.num_frames:
        made = replace(made, timestamps=tuple(times))
    return made


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def score_windows(
    model: nn.Module,
    video: VideoFrames,
    starts: Sequence[int],
    clip_len: int,
    *,
    max_batch_size: int | None = DEFAULT_WINDOW_BATCH,
) -> Tensor:
    """The model's softmax probabilities ``(W, K)`` on each window (float32, CPU), without a graph.

    The model runs in eval mode (its modes are restored afterwards), as the attributors run it.

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits.
        video: the sampled frames.
        starts: sampled positions of the windows (see [`window_starts`][videoattr.pipeline.window_starts]).
        clip_len: ``T``.
        max_batch_size: windows per forward. Default 8.
    """
    device, dtype = _model_device_dtype(model)
    rows: list[Tensor] = []
    with model_session(model, eval_mode=True), torch.no_grad():
        for sl in chunk_slices(len(starts), max_batch_size):
            x = video.windows(starts[sl], clip_len, device=device, dtype=dtype)
            logits = model(x)
            rows.append(torch.softmax(logits.detach().float(), dim=1).cpu())
    return torch.cat(rows)


@dataclass(frozen=True, repr=False)
class VideoExplanation:
    """The explanation of a whole video by sliding windows.

    Attributes:
        maps: ``(A, M, H, W)`` stitched maps, one per sampled frame (CPU; ``A`` = 1, or one per
            area for perturbation masks).
        frame_indices: ``(M,)`` the video frame of each map.
        coverage: ``(M,)`` how many windows cover each sampled frame (at least 1).
        window_starts: ``(W,)`` the first video frame of each window.
        probabilities: ``(W, K)`` the model's softmax on each window.
        target: the explained class.
        target_name: its name, or ``None`` when the model has no class names.
        num_frames: ``N``, the video's frames.
        clip_len: ``T``, frames per window.
        stride: ``S``, sampled frames between window starts.
        frame_step: ``s``, video frames between sampled frames.
        fps: the video's frame rate, or ``None``.
        padded: frames repeated to fill the only window of a video shorter than ``T`` (else 0).
        method: the method's canonical name.
        config: the method's record and the window settings (``clip_len``, ``stride``,
            ``frame_step``, ``max_batch_size``, ``short_video``).
        areas: the perturbation areas (empty for map methods).
        class_names: the model's class names, when it has them.
        seconds: wall time of the attributions (without the scoring pass).
        timestamps: the time in seconds of each of the ``N`` video frames (from the file), or
            ``None`` (then times are ``frame / fps``).
    """

    maps: Tensor
    frame_indices: Tensor
    coverage: Tensor
    window_starts: Tensor
    probabilities: Tensor
    target: int
    target_name: str | None
    num_frames: int
    clip_len: int
    stride: int
    frame_step: int
    fps: float | None = None
    padded: int = 0
    method: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    areas: tuple[float, ...] = ()
    class_names: tuple[str, ...] | None = None
    seconds: float = 0.0
    timestamps: tuple[float, ...] | None = None

    def frame_time(self, frame: int) -> float | None:
        """The time in seconds at which video frame ``frame`` starts (``frame`` may be ``N``: the
        end of the last frame), from the timestamps, else ``frame / fps``; ``None`` without
        either."""
        ts = self.timestamps
        if ts is not None and len(ts) == self.num_frames and self.num_frames:
            if frame < len(ts):
                return ts[frame]
            last = ts[-1] - ts[-2] if len(ts) > 1 else (1 / self.fps if self.fps else 0.0)
            return ts[-1] + last * (frame - len(ts) + 1)
        return frame / self.fps if self.fps else None

    @property
    def target_probability(self) -> Tensor:
        """``(W,)`` the target's probability on each window: the timeline."""
        return self.probabilities[:, self.target]

    @property
    def prediction(self) -> Tensor:
        """``(W,)`` the model's top class on each window."""
        return self.probabilities.argmax(dim=1)

    @property
    def prediction_probability(self) -> Tensor:
        """``(W,)`` the probability of each window's top class."""
        return self.probabilities.max(dim=1).values

    @property
    def window_ends(self) -> Tensor:
        """``(W,)`` the last video frame of each window (inclusive; may pass the video's end for a
        padded window)."""
        return self.window_starts + (self.clip_len - 1) * self.frame_step

    def window_span(self, index: int) -> str:
        """Where window ``index`` lies in the video, as text: ``"2.0-4.0 s"`` (from its first frame to
        the end of its last) from the video's timestamps or frame rate, else ``"frames 16-31"``; a padded window
        ends with the video."""
        start = int(self.window_starts[index])
        end = min(int(self.window_ends[index]), self.num_frames - 1)
        begin, finish = self.frame_time(start), self.frame_time(end + 1)
        if begin is not None and finish is not None:
            return f"{begin:.1f}-{finish:.1f} s"
        return f"frames {start}-{end}"

    def best_window(self) -> str:
        """The window where the target is most probable: ``"max 0.813 in the window 2.0-4.0 s"``."""
        p = self.target_probability
        best = int(p.argmax())
        return f"max {float(p[best]):.3f} in the window {self.window_span(best)}"

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (its index as text without class names)."""
        names = self.class_names
        return names[index] if names is not None and 0 <= index < len(names) else str(index)

    def per_video_frame(self) -> Tensor:
        """``(A, N, H, W)``: one map per video frame, each sampled frame's map held until the next."""
        hold = (torch.arange(self.num_frames) // self.frame_step).clamp(max=self.maps.shape[1] - 1)
        return self.maps[:, hold]

    def summary(self) -> dict[str, Any]:
        """The JSON record: target, windows with their probabilities, settings, map shape."""
        p = self.target_probability
        best = int(p.argmax())
        return {
            "method": self.method,
            "target": {
                "index": self.target,
                "name": self.target_name,
                "mean_prob": float(p.mean()),
                "max_prob": float(p[best]),
                "max_window_start": int(self.window_starts[best]),
            },
            "num_frames": self.num_frames,
            "fps": self.fps,
            "clip_len": self.clip_len,
            "stride": self.stride,
            "frame_step": self.frame_step,
            "padded": self.padded,
            "areas": list(self.areas),
            "map_shape": list(self.maps.shape),
            "seconds": self.seconds,
            "windows": [
                {
                    "start": int(s),
                    "end": int(e),
                    "target_prob": float(tp),
                    "prediction": {
                        "index": int(k),
                        "name": self.class_name(int(k)),
                        "prob": float(kp),
                    },
                }
                for s, e, tp, k, kp in zip(
                    self.window_starts.tolist(),
                    self.window_ends.tolist(),
                    p.tolist(),
                    self.prediction.tolist(),
                    self.prediction_probability.tolist(),
                    strict=True,
                )
            ],
            "settings": self.config,
            **({"timestamps": [round(t, 6) for t in self.timestamps]} if self.timestamps else {}),
        }

    def __repr__(self) -> str:
        p = self.target_probability
        name = f" {self.target_name!r}" if self.target_name is not None else ""
        return (
            f"VideoExplanation(method={self.method!r}, target={self.target}{name}, frames="
            f"{self.num_frames} (frame_step {self.frame_step}), windows={len(p)} of {self.clip_len} "
            f"(stride {self.stride}), maps={tuple(self.maps.shape)}, p(target) mean "
            f"{float(p.mean()):.3f}, {self.best_window()})"
        )


def _target_index(target: int | str | None, probs: Tensor, names: Sequence[str] | None) -> int:
    k = probs.shape[1]
    if target is None:
        return int(probs.mean(dim=0).argmax())
    if isinstance(target, Tensor) and target.numel() == 1:
        target = int(target.item())
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise TypeError(
            f"target must be one class index, a class name or None; got {describe(target)}"
        )
    index = class_from_label(target, names, name="target")
    assert index is not None
    if not 0 <= index < k:
        raise ValueError(f"target {target!r} is outside the model's {k} classes (0 .. {k - 1})")
    return index


def _progress(chunks: list[slice], show: bool, total: int) -> Iterator[slice]:
    if not show:
        yield from chunks
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="windows", unit="window", leave=False) as bar:
        for sl in chunks:
            yield sl
            bar.update(sl.stop - sl.start)


def explain_video(
    model: nn.Module,
    method: AttributorLike | Method,
    video: VideoFrames | str | Path | Tensor,
    *,
    target: int | str | None = None,
    clip_len: int | None = None,
    stride: int | None = None,
    frame_step: int = 1,
    max_batch_size: int | None = None,
    short_video: ShortVideo = "pad",
    scores: Tensor | None = None,
    key: str = "video",
    progress: bool = False,
) -> VideoExplanation:
    """Explain a whole video with sliding windows (see the module notes for every rule).

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits; a zoo adapter gives the clip
            length, the preprocessing and the class names.
        method: any attributor, a registered method name (built for ``model``), a
            `Method` (see `videoattr.pipeline.as_method`) or a callable ``(x, targets) -> maps``.
        video: [`VideoFrames`][videoattr.pipeline.VideoFrames]; a file, GIF or frame folder, or uint8
            frames ``(N, H, W, 3)`` (read with [`read_frames`][videoattr.pipeline.read_frames] and
            the model's preprocessing); or a normalised float clip ``(1, C, N, H, W)`` of every
            video frame.
        target: the class to explain in every window: an index, a class name, or ``None`` (default)
            for the class with the highest mean probability over the windows.
        clip_len: ``T``, frames per window; default the model's ``clip_len``.
        stride: ``S``, sampled frames between window starts, ``1 <= S <= T``; default
            ``max(1, T // 2)``.
        frame_step: keep every ``frame_step``-th video frame (when ``video`` is not already
            [`VideoFrames`][videoattr.pipeline.VideoFrames]). Default 1.
        max_batch_size: windows per model call (scores and attributions); the attributor's own
            ``max_batch_size`` still bounds the rows of each forward inside a call. Default: the
            attributor's ``max_batch_size``, else 8.
        short_video: ``"pad"`` (default) or ``"error"``, for a video shorter than one window.
        scores: ``(W, K)`` window probabilities from an earlier call on the same video and windows
            (its ``probabilities``), to skip the scoring pass. Default ``None``.
        key: the video's key for methods that draw noise: window ``k`` gets ``"<key>@<start>"``,
            so its noise does not depend on the batching. Default ``"video"``.
        progress: show a progress bar over the windows. Default ``False``.

    Returns:
        A [`VideoExplanation`][videoattr.pipeline.VideoExplanation].

    Raises:
        ValueError: ``stride``, ``clip_len``, ``frame_step`` or ``max_batch_size`` not a positive
            int, ``stride > clip_len``, ``short_video`` unknown, ``scores`` of the wrong shape, a target outside the
            classes, or maps of the wrong shape.
        VideoTooShortError: ``short_video="error"`` and fewer sampled frames than ``T``.
        TypeError: no ``clip_len`` given for a model without one.
    """
    t, s = _window_settings(model, clip_len, stride, max_batch_size, short_video)
    if not isinstance(method, Method):
        method = as_method(method, model)
    own = getattr(method.attributor, "max_batch_size", None)
    chunk = max_batch_size or (own if isinstance(own, int) else None) or DEFAULT_WINDOW_BATCH
    video = _as_video_frames(video, model, frame_step)
    m = len(video)
    if m < t and short_video == "error":
        raise VideoTooShortError(
            f"{video.source} has {m} sampled frames ({video.num_frames} frames, "
            f"frame_step={video.frame_step}), fewer than one window of clip_len={t}; pass short_video='pad' to repeat the last frame"
        )
    starts = window_starts(m, t, s)
    if scores is None:
        probs = score_windows(model, video, starts, t, max_batch_size=chunk)
    else:
        if not isinstance(scores, Tensor) or scores.dim() != 2 or scores.shape[0] != len(starts):
            raise ValueError(
                f"scores must be the (W, K) window probabilities with W = {len(starts)} windows; "
                f"got {describe(scores)}"
            )
        probs = scores.detach().float().cpu()
    names = getattr(model, "class_names", None)
    index = _target_index(target, probs, names)
    device, dtype = _model_device_dtype(model)
    total: Tensor | None = None
    seconds = 0.0
    for sl in _progress(list(chunk_slices(len(starts), chunk)), progress, len(starts)):
        part = starts[sl]
        x = video.windows(part, t, device=device, dtype=dtype)
        keys = [f"{key}@{int(video.frame_indices[p])}" for p in part]
        begin = time.perf_counter()
        maps = method.fn(x, [index] * len(part), keys)
        if maps.device.type == "cuda":
            torch.cuda.synchronize(maps.device)
        seconds += time.perf_counter() - begin
        if not isinstance(maps, Tensor) or maps.dim() != 5 or maps.shape[0] != len(part):
            raise ValueError(
                f"the attributor must return (B, A, T, H, W) maps with B = {len(part)} windows; "
                f"got {describe(maps)}"
            )
        if maps.shape[2] != t or maps.shape[3:] != x.shape[3:]:
            raise ValueError(
                f"the attributor must return maps of the windows' (T, H, W) = "
                f"{(t, *x.shape[3:])}; got {tuple(maps.shape)}"
            )
        maps = maps.detach().cpu()
        if total is None:
            acc_dtype = torch.promote_types(maps.dtype, torch.float32)
            total = torch.zeros(maps.shape[1], m, *maps.shape[3:], dtype=acc_dtype)
        for b, p in enumerate(part):
            keep = min(t, m - p)
            total[:, p : p + keep] += maps[b, :, :keep].to(total.dtype)
    assert total is not None
    coverage = torch.zeros(m, dtype=torch.long)
    for p in starts:
        coverage[p : p + min(t, m - p)] += 1
    stitched = total / coverage.view(1, m, 1, 1).to(total.dtype)
    config = {
        "method": method.config,
        "clip_len": t,
        "stride": s,
        "frame_step": video.frame_step,
        "max_batch_size": chunk,
        "short_video": short_video,
    }
    return VideoExplanation(
        maps=stitched,
        frame_indices=video.frame_indices.clone(),
        coverage=coverage,
        window_starts=torch.tensor(starts, dtype=torch.long) * video.frame_step,
        probabilities=probs,
        target=index,
        target_name=names[index] if names is not None and index < len(names) else None,
        num_frames=video.num_frames,
        clip_len=t,
        stride=s,
        frame_step=video.frame_step,
        fps=video.fps,
        timestamps=video.timestamps,
        padded=max(0, t - m),
        method=method.name,
        config=config,
        areas=method.areas,
        class_names=tuple(names) if names is not None else None,
        seconds=seconds,
    )


def _window_settings(
    model: nn.Module,
    clip_len: int | None,
    stride: int | None,
    max_batch_size: int | None,
    short_video: str,
) -> tuple[int, int]:
    """Check the window settings of a whole-video call; returns ``(T, S)``."""
    check_choice(short_video, "short_video", SHORT_VIDEO)
    t = clip_len if clip_len is not None else getattr(model, "clip_len", None)
    if t is None:
        raise TypeError(
            f"clip_len must be given for a model without a clip_len; got model={describe(model)}"
        )
    t = check_positive_int(t, "clip_len")
    s = max(1, t // 2) if stride is None else check_positive_int(stride, "stride")
    window_starts(t, t, s)  # checks 1 <= stride <= clip_len before any work
    if max_batch_size is not None:
        check_positive_int(max_batch_size, "max_batch_size")
    return t, s


def _as_video_frames(
    video: VideoFrames | str | Path | Tensor, model: nn.Module, frame_step: int
) -> VideoFrames:
    """``video`` as [`VideoFrames`][videoattr.pipeline.VideoFrames] (read or wrapped once)."""
    if isinstance(video, VideoFrames):
        return video
    if isinstance(video, Tensor) and video.is_floating_point():
        clip = video[0] if video.dim() == 5 and video.shape[0] == 1 else video
        step = check_positive_int(frame_step, "frame_step")
        return VideoFrames.from_clip(
            clip[:, ::step] if clip.dim() == 4 else clip,
            frame_step=step,
            num_frames=clip.shape[1] if clip.dim() == 4 else None,
            mean=getattr(model, "mean", (0.0, 0.0, 0.0)),
            std=getattr(model, "std", (1.0, 1.0, 1.0)),
        )
    return read_frames(video, model, frame_step=frame_step)


def explain_video_classes(
    model: nn.Module,
    method: AttributorLike | Method,
    video: VideoFrames | str | Path | Tensor,
    targets: Target | TargetRequest | Sequence[int | str | None],
    *,
    clip_len: int | None = None,
    stride: int | None = None,
    frame_step: int = 1,
    max_batch_size: int | None = None,
    short_video: ShortVideo = "pad",
    key: str = "video",
    progress: bool = False,
) -> Iterator[VideoExplanation]:
    """Explain a whole video for several classes: one [`explain_video`][videoattr.pipeline.explain_video]
    per class, the video read and its windows scored once.

    The explanations come one at a time, each as soon as it is computed, so that a caller can keep
    (write) each before the next is computed; ``list(...)`` collects them. ``targets``, the window
    settings and the method are checked at the call; the video is read, and class names are
    resolved, when the first explanation is asked for.

    Args:
        model: the classifier, as for [`explain_video`][videoattr.pipeline.explain_video] (and so
            are ``method``, ``video``, ``clip_len``, ``stride``, ``frame_step``,
            ``max_batch_size``, ``short_video``, ``key`` and ``progress``).
        method: the method.
        video: the video.
        clip_len: ``T``; default the model's.
        stride: ``S``; default ``max(1, T // 2)``.
        frame_step: keep every ``frame_step``-th video frame. Default 1.
        max_batch_size: windows per model call.
        short_video: ``"pad"`` (default) or ``"error"``.
        key: the video's key for methods that draw noise. Default ``"video"``.
        progress: a progress bar over each class's windows. Default ``False``.
        targets: the classes, read by [`parse_target`][videoattr.core.targets.parse_target]: a
            class index or name, a list of them, ``"top3"``, a
            [`TargetRequest`][videoattr.core.targets.TargetRequest], or ``[None]`` (the class with
            the highest mean probability over the windows); an int ``k`` is the ``k`` classes with
            the highest mean probability, best first.

    Yields:
        One [`VideoExplanation`][videoattr.pipeline.VideoExplanation] per class, in order.

    Raises:
        ValueError: no class (an empty list, or ``k < 1``), a bad window setting (as for
            [`explain_video`][videoattr.pipeline.explain_video]).
        TypeError: ``targets`` neither classes nor an int, or no ``clip_len`` for a model without
            one.
    """
    if isinstance(targets, int) and not isinstance(targets, bool):  # the k of a top-k request
        request = TargetRequest(top=check_positive_int(targets, "targets"))
    elif isinstance(targets, TargetRequest):
        request = targets
    elif isinstance(targets, Sequence) and not isinstance(targets, str) and None in list(targets):
        if len(targets) != 1:
            raise ValueError(f"targets may hold None only alone (the top class); got {targets!r}")
        request = TargetRequest()
    else:
        if isinstance(targets, Sequence) and not isinstance(targets, str) and not targets:
            raise ValueError("targets must name at least one class; got an empty sequence")
        request = parse_target(targets, getattr(model, "class_names", None), name="targets")
    _window_settings(model, clip_len, stride, max_batch_size, short_video)
    if not isinstance(method, Method):
        method = as_method(method, model)  # once for every class
    options: dict[str, Any] = {
        "clip_len": clip_len,
        "stride": stride,
        "max_batch_size": max_batch_size,
        "short_video": short_video,
        "key": key,
        "progress": progress,
    }
    return _explain_classes(model, method, video, frame_step, request, options)


def _explain_classes(
    model: nn.Module,
    method: AttributorLike | Method,
    video: VideoFrames | str | Path | Tensor,
    frame_step: int,
    request: TargetRequest,
    options: dict[str, Any],
) -> Iterator[VideoExplanation]:
    frames = _as_video_frames(video, model, frame_step)
    first_class = request.classes[0] if request.classes else None
    first = explain_video(model, method, frames, target=first_class, **options)
    mean = first.probabilities.mean(dim=0, keepdim=True)  # the video's classes: by mean probability
    if request.top > mean.shape[1]:
        request = TargetRequest(top=mean.shape[1])
    requested = target_classes(request.for_clips([first.target]), mean)[0].tolist()
    done = 0
    if requested[0] == first.target:  # else a tie for the top class, broken otherwise
        yield first
        done = 1
    for target in requested[done:]:
        yield explain_video(
            model, method, frames, target=target, scores=first.probabilities, **options
        )
