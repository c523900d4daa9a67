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
frame of each (``frame_indices``); [`VideoExplanation.per_video_frame`][videoattr.pipeline.video_explanation.VideoExplanation.per_video_frame]
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
so the model's memory does not grow with the video: the number of windows per call is always
bounded (by default by the attributor's own ``max_batch_size``, else 8), never "all of them". [`read_frames`][videoattr.pipeline.read_frames]
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
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.core.batching import chunk_slices
from videoattr.core.targets import Target, TargetRequest, parse_target, target_classes
from videoattr.core.validation import check_positive_int, describe
from videoattr.datasets.folders import class_from_label
from videoattr.io.errors import VideoTooShortError
from videoattr.io.video_frames import VideoFrames, read_frames
from videoattr.pipeline.methods import AttributorLike, Method, as_method
from videoattr.pipeline.video_explanation import VideoExplanation
from videoattr.pipeline.windows import (
    DEFAULT_WINDOW_BATCH,
    ShortVideo,
    check_window_settings,
    model_device_dtype,
    score_windows,
    window_starts,
)

__all__ = ["explain_video", "explain_video_classes"]


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
        max_batch_size: windows per model call: per forward of the scoring pass (which runs the
            model itself) and per call of the method (whose own ``max_batch_size`` still bounds
            the rows of each forward inside a call). ``None`` (default) is not "no bound" here,
            unlike an attributor's ``max_batch_size``: a video has as many windows as its length
            gives, so they are always taken a bounded number at a time, the attributor's own
            ``max_batch_size`` when it is an int, else 8 (``pipeline.windows.DEFAULT_WINDOW_BATCH``). To run every
            window in one call, pass their number. The result's ``config["max_batch_size"]``
            records the bound used.
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
    t, s = check_window_settings(model, clip_len, stride, max_batch_size, short_video)
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
    device, dtype = model_device_dtype(model)
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
        max_batch_size: windows per model call; ``None`` (default): the attributor's own
            ``max_batch_size`` when it is an int, else 8 (never unbounded, as for
            [`explain_video`][videoattr.pipeline.explain_video]).
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
    check_window_settings(model, clip_len, stride, max_batch_size, short_video)
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
