"""Whole videos in a dataset run: each item is a video explained with sliding windows.

With ``run(..., whole_videos=True)`` (``videoattr run --whole-video``) an item is a whole video, not
one sampled clip: [`WholeVideoFolder`][videoattr.runner.videos.WholeVideoFolder] reads every sampled
frame of each video of a folder at the model's input size (in the DataLoader's workers), and
[`explain_video`][videoattr.pipeline.explain_video] explains it with windows of the model's clip
length, stitched into one map per sampled frame. Each result then holds ``maps`` ``(A, M, H, W)``
(``(K, A, M, H, W)`` for several classes) and, in ``meta``, what
[`VideoExplanation.summary`][videoattr.pipeline.video_explanation.VideoExplanation.summary] records (the
windows, each with the target's probability and the window's top class) plus the window
probabilities ``(W, K)``, the video frame of each map and how many windows cover it: enough for
[`video_explanation`][videoattr.runner.videos.video_explanation] to rebuild the explanation (and
``videoattr render`` its pictures) without the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from videoattr.core.targets import TargetRequest
from videoattr.core.validation import check_choice, check_positive_int
from videoattr.datasets.folders import find_videos, label_of, unique_ids
from videoattr.pipeline import (
    Method,
    VideoExplanation,
    VideoFrames,
    explain_video_classes,
    read_frames,
)
from videoattr.pipeline.records import VideoRecord
from videoattr.pipeline.windows import SHORT_VIDEO

__all__ = ["WholeVideoFolder", "WindowSettings", "explain_whole_video", "video_explanation"]


@dataclass(frozen=True)
class WindowSettings:
    """How a whole-video run cuts its videos into windows.

    Attributes:
        stride: sampled frames between window starts; ``None`` for half the clip length.
        frame_step: keep every ``frame_step``-th video frame. Default 1.
        short_video: ``"pad"`` (default) or ``"error"`` for a video shorter than one window.
        max_batch_size: windows per model call. Default 4.
        progress: a progress bar over each video's windows. Default ``False``.
    """

    stride: int | None = None
    frame_step: int = 1
    short_video: Literal["pad", "error"] = "pad"
    max_batch_size: int = 4
    progress: bool = False

    def __post_init__(self) -> None:
        if self.stride is not None:
            check_positive_int(self.stride, "stride")
        check_positive_int(self.frame_step, "frame_step")
        check_positive_int(self.max_batch_size, "max_batch_size")
        check_choice(self.short_video, "short_video", SHORT_VIDEO)

    def record(self) -> dict[str, Any]:
        """What the run's settings record (a rerun with other windows is refused)."""
        return {
            "stride": self.stride,
            "frame_step": self.frame_step,
            "short_video": self.short_video,
        }


class WholeVideoFolder(Dataset[tuple[VideoFrames, str, str]]):
    """The videos and frame folders directly inside ``root``, each read whole.

    Item ``i`` is ``(video, label, id)``: ``video`` the [`VideoFrames`][videoattr.pipeline.VideoFrames]
    of every ``frame_step``-th frame at the model's input size (see
    [`read_frames`][videoattr.pipeline.read_frames]), ``label`` the name before the first ``-``,
    ``id`` as in [`VideoFolder`][videoattr.datasets.folders.VideoFolder]. ``sources`` holds each
    video's path.

    Args:
        root: the folder.
        model: a zoo adapter (its preprocessing).
        frame_step: keep video frames ``0, frame_step, 2 frame_step, ...``. Default 1.
        exclude: output folders inside ``root`` that are not videos (see
            `find_videos`).

    Raises:
        FileNotFoundError: ``root`` is not a folder or holds no videos.
        TypeError: ``model`` has no preprocessing (not a zoo adapter).
    """

    def __init__(
        self,
        root: str | Path,
        model: Any,
        *,
        frame_step: int = 1,
        exclude: Sequence[str | Path] = (),
    ) -> None:
        if getattr(model, "preprocessing", None) is None:
            raise TypeError(
                "a folder of whole videos needs a zoo adapter (its preprocessing and clip length); "
                f"got {type(model).__name__}"
            )
        self.root = Path(root)
        self.paths = find_videos(self.root, exclude=exclude)
        self.model = model
        self.frame_step = check_positive_int(frame_step, "frame_step")
        self.labels = [label_of(p) for p in self.paths]
        self.ids = unique_ids(self.paths)
        self.sources = [str(p) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[VideoFrames, str, str]:
        video = read_frames(self.paths[index], self.model, frame_step=self.frame_step)
        return video, self.labels[index], self.ids[index]


def explain_whole_video(
    model: nn.Module,
    method: Method,
    video: VideoFrames,
    targets: TargetRequest | Sequence[int | None],
    windows: WindowSettings,
    *,
    key: str,
    settings: Mapping[str, Any],
) -> tuple[np.ndarray, VideoRecord]:
    """Explain one video for one or several classes; returns the result's ``maps`` and record.

    Args:
        model: the classifier (with a ``clip_len``).
        method: the method.
        video: the sampled frames.
        targets: the classes asked for (several: one stack of maps per class), or the video's
            label ``[class]`` (``[None]``: the class with the highest mean probability over the
            windows).
        windows: the window settings.
        key: the video's key (seeds per-window noise).
        settings: recorded in ``meta`` as they are (model, weights, the method's settings).

    Returns:
        ``maps`` float32 ``(A, M, H, W)`` for one class or ``(K, A, M, H, W)`` for several, and
        the result's [`VideoRecord`][videoattr.pipeline.records.VideoRecord].

    Raises:
        ValueError: ``video`` was sampled with another ``frame_step`` than ``windows`` says.
    """
    if len(video) > 1 and video.frame_step != windows.frame_step:
        raise ValueError(
            f"the video was read with frame_step={video.frame_step}, but the run's frame_step is "
            f"{windows.frame_step}: read it with read_frames(..., frame_step={windows.frame_step})"
        )
    results: list[VideoExplanation] = []
    stack: np.ndarray | None = None
    several = isinstance(targets, TargetRequest) and targets.several
    for k, result in enumerate(
        explain_video_classes(
            model,
            method,
            video,
            targets,
            stride=windows.stride,
            max_batch_size=windows.max_batch_size,
            short_video=windows.short_video,
            key=key,
            progress=windows.progress,
        )
    ):
        if several:  # filled in place: no second copy
            if stack is None:
                classes = result.probabilities.shape[1]
                assert isinstance(targets, TargetRequest)
                count = min(targets.top, classes) if targets.top else len(targets.classes)
                stack = np.empty((count, *result.maps.shape), dtype=np.float32)
            stack[k] = result.maps.numpy()
            result = replace(result, maps=torch.empty(0))
        results.append(result)
    first = results[0]
    record = VideoRecord(results, several, dict(settings))
    if stack is not None:
        record.map_shape = list(stack.shape)
        return stack, record
    return first.maps.numpy().astype(np.float32, copy=False), record


def video_explanation(
    maps: np.ndarray,
    meta: Mapping[str, Any],
    class_names: Sequence[str] | None = None,
) -> list[VideoExplanation]:
    """Rebuild the explanations of a whole-video result (one per class) from its files.

    Args:
        maps: the result's ``maps``, ``(A, M, H, W)`` or ``(K, A, M, H, W)``.
        meta: its ``meta``.
        class_names: the model's class names, if any.

    Raises:
        ValueError: ``meta`` is not the record of a whole-video result.
    """
    return VideoRecord.from_meta(meta, maps, class_names).results
