"""What one item of a dataset run is: a clip ([`ClipJob`][videoattr.runner.jobs.ClipJob]) or a whole
video ([`VideoJob`][videoattr.runner.jobs.VideoJob]).

A run chooses its kind of job once ([`job_for`][videoattr.runner.jobs.job_for]); the job says what
the rest of the run would otherwise ask a flag: how a folder is read, what a dataset item must hold,
how many items go into one call of the method, how the items of a batch are grouped, how each
group is explained and what its result records, and what the logs call an item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from videoattr.core.validation import check_positive_int, describe
from videoattr.datasets.folders import VideoFolder
from videoattr.pipeline import VideoFrames
from videoattr.pipeline.explain import explain_targets
from videoattr.pipeline.records import ClipRecord, VideoRecord
from videoattr.runner.dataset import Sample, check_clip
from videoattr.runner.videos import WholeVideoFolder, WindowSettings, explain_whole_video

if TYPE_CHECKING:
    from videoattr.core.targets import TargetRequest
    from videoattr.pipeline.methods import Method


class BatchContext(Protocol):
    """What a job reads of its batch's context (the runner's ``batches.BatchContext`` has it)."""

    model: nn.Module
    method: Method
    device: torch.device
    request: TargetRequest
    settings: dict[str, Any]


#: One item's result: its maps and its record.
Result = tuple[np.ndarray, ClipRecord | VideoRecord]


class Job(Protocol):
    """The kind of item a run explains (see the module notes)."""

    unit: ClassVar[str]

    def folder(self, root: str | Path, model: nn.Module, exclude: Sequence[Path]) -> Any:
        """The dataset of a folder of videos (``exclude``: the run's own files)."""
        ...

    def check_input(self, value: object, index: int) -> Tensor | VideoFrames:
        """A dataset item's input, checked (raises a one-line error naming item ``index``)."""
        ...

    def items_per_call(self, batch_size: int) -> int:
        """Dataset items per batch of the DataLoader (and so per shard unit)."""
        ...

    def groups(self, samples: list[Sample]) -> list[list[Sample]]:
        """The samples of a batch in the groups that are explained in one call."""
        ...

    def explain(self, group: list[Sample], bc: BatchContext) -> list[Result]:
        """Explain one group: one result per sample."""
        ...

    def record(self) -> dict[str, Any]:
        """What the run's settings record about the job (a rerun with other settings is refused)."""
        ...


@dataclass(frozen=True)
class ClipJob:
    """Each item is one clip ``(C, T, H, W)``; clips of one shape are explained together."""

    unit: ClassVar[str] = "clip"

    def folder(self, root: str | Path, model: nn.Module, exclude: Sequence[Path]) -> Any:
        """A [`VideoFolder`][videoattr.datasets.folders.VideoFolder] read with the model's sampling."""
        return VideoFolder.for_model(root, model, exclude=exclude)

    def check_input(self, value: object, index: int) -> Tensor:
        """The clip as ``(C, T, H, W)`` float32 on the CPU (see
        [`check_clip`][videoattr.runner.dataset.check_clip])."""
        return check_clip(value, index)

    def items_per_call(self, batch_size: int) -> int:
        """``batch_size``: clips per call of the method."""
        return batch_size

    def groups(self, samples: list[Sample]) -> list[list[Sample]]:
        """The clips by shape."""
        found: dict[tuple[int, ...], list[Sample]] = {}
        for s in samples:
            assert isinstance(s.input, Tensor)
            found.setdefault(tuple(s.input.shape), []).append(s)
        return list(found.values())

    def explain(self, group: list[Sample], bc: BatchContext) -> list[Result]:
        """Explain the clips in one call per class (see
        `videoattr.pipeline.explain.explain_targets`)."""
        clips = [s.input for s in group if isinstance(s.input, Tensor)]
        x = torch.stack(clips).to(bc.device, non_blocking=True)
        ids = [s.id for s in group]
        target = bc.request.for_clips([s.target for s in group])
        found = explain_targets(bc.model, bc.method, x, target, names=ids, keys=ids)
        class_names = getattr(bc.model, "class_names", None)
        out: list[Result] = []
        for s, results in zip(group, found, strict=True):
            record = ClipRecord.of(
                results,
                class_names,
                method=bc.method.name,
                areas=bc.method.areas,
                extra=bc.settings,
                several=bc.request.several,
            )
            record.extra["label_is_target"] = s.target is not None and bc.request.uses_labels
            maps = torch.cat([r.maps for r in results]) if record.several else results[0].maps[0]
            out.append((maps.numpy(), record))
        return out

    def record(self) -> dict[str, Any]:
        """Nothing: the records of clip runs stay as they were."""
        return {}


@dataclass(frozen=True)
class VideoJob:
    """Each item is a whole video explained with sliding windows (see
    [`videoattr.runner.videos`][videoattr.runner.videos]), one video per call.

    Attributes:
        windows: how videos are cut into windows.
    """

    windows: WindowSettings
    unit: ClassVar[str] = "video"

    def folder(self, root: str | Path, model: nn.Module, exclude: Sequence[Path]) -> Any:
        """A [`WholeVideoFolder`][videoattr.runner.videos.WholeVideoFolder]."""
        return WholeVideoFolder(root, model, frame_step=self.windows.frame_step, exclude=exclude)

    def check_input(self, value: object, index: int) -> VideoFrames:
        """The video's [`VideoFrames`][videoattr.pipeline.VideoFrames]."""
        if not isinstance(value, VideoFrames):
            raise TypeError(
                f"dataset item {index}: a whole-video run needs VideoFrames (see read_frames); "
                f"got {describe(value)}"
            )
        return value

    def items_per_call(self, batch_size: int) -> int:
        """1: a video at a time (``batch_size`` is the windows per call)."""
        return 1

    def groups(self, samples: list[Sample]) -> list[list[Sample]]:
        """Each video on its own."""
        return [[s] for s in samples]

    def explain(self, group: list[Sample], bc: BatchContext) -> list[Result]:
        """Explain each video for its classes."""
        out: list[Result] = []
        for s in group:
            assert isinstance(s.input, VideoFrames)
            targets = [s.target] if bc.request.uses_labels else bc.request
            maps, record = explain_whole_video(
                bc.model, bc.method, s.input, targets, self.windows, key=s.id, settings=bc.settings
            )
            record.extra["label_is_target"] = s.target is not None and bc.request.uses_labels
            out.append((maps, record))
        return out

    def record(self) -> dict[str, Any]:
        """``{"whole_videos": the window settings}``."""
        return {"whole_videos": self.windows.record()}


def job_for(
    model: nn.Module,
    *,
    whole_videos: bool,
    window_stride: int | None,
    frame_step: int,
    short_video: Literal["pad", "error"],
    batch_size: int,
    progress: bool,
) -> ClipJob | VideoJob:
    """The job of a run: whole videos, else clips (the window settings only apply to videos).

    Args:
        model: the classifier (its ``clip_len`` bounds ``window_stride``).
        whole_videos: each item is a whole video.
        window_stride: sampled frames between window starts; ``None`` for half the clip length.
        frame_step: keep every ``frame_step``-th video frame.
        short_video: ``"pad"`` or ``"error"`` for a video shorter than one window.
        batch_size: windows per call of the method.
        progress: a bar over each video's windows.

    Raises:
        ValueError: a window setting that is invalid, or given without ``whole_videos``.
    """
    if not whole_videos:
        if (window_stride, frame_step, short_video) != (None, 1, "pad"):
            raise ValueError(
                "window_stride, frame_step and short_video apply only with whole_videos=True; got "
                f"window_stride={window_stride!r}, frame_step={frame_step!r}, "
                f"short_video={short_video!r}"
            )
        return ClipJob()
    if window_stride is not None:
        check_positive_int(window_stride, "window_stride")
        clip_len = getattr(model, "clip_len", None)
        if isinstance(clip_len, int) and window_stride > clip_len:
            raise ValueError(
                f"window_stride must be at most the model's clip_len ({clip_len}), so that "
                f"every frame lies in a window; got {window_stride}"
            )
    return VideoJob(WindowSettings(window_stride, frame_step, short_video, batch_size, progress))
