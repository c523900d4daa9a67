"""Clips for a dataset run: a folder of videos, or any ``torch`` Dataset, decoded in DataLoader workers.

A run reads its clips through a `torch.utils.data.DataLoader`, so worker processes decode and
preprocess the next batches while the model computes. Two kinds of source are accepted:

- [`VideoFolder`][videoattr.datasets.folders.VideoFolder]: the videos and frame folders directly inside a
  folder (what ``videoattr explain --videos-dir`` reads), each decoded and preprocessed exactly as the
  command line does for one clip (the model's frame sampling and preprocessing). The label is the
  part of the name before the first ``-``; a label that names one of the model's classes is the class
  explained. Ids are the names made safe as file names, so an odd name never stops a run.
- any map-style Dataset whose item ``i`` is ``(clip, target_or_label)`` or
  ``(clip, target_or_label, extra)``: ``clip`` a float tensor ``(C, T, H, W)`` (or ``(1, C, T, H, W)``),
  ``target_or_label`` a class index, a class name, or ``None`` (the model's top class). A third element
  that is a ``str`` must be the item's id; anything else there (a ground-truth mask, say) is ignored.
  So [`SyntheticMotion`][videoattr.datasets.SyntheticMotion]'s ``(clip, label, mask)`` items work as they are.

Clip ids name the result files. A dataset with an ``ids`` attribute (one ``str`` per item) supplies
its own; otherwise item ``i`` has the id ``f"{i:06d}"``. A dataset may also carry ``sources`` (one
path or description per item), recorded in each result's metadata.

[`ClipItems`][videoattr.runner.dataset.ClipItems] wraps either source so that reading never raises: an item that cannot be read
becomes a [`Sample`][videoattr.runner.dataset.Sample] that carries the error, and the run records it as a failure.
"""

from __future__ import annotations

import os
import traceback as tb
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.utils.data import Dataset

from videoattr.core.validation import describe
from videoattr.datasets.folders import VideoFolder, class_from_label
from videoattr.io.fingerprint import fingerprint
from videoattr.io.video_frames import VideoFrames
from videoattr.runner.store import check_id

__all__ = [
    "ClipItems",
    "Sample",
    "VideoFolder",
    "collate_samples",
    "dataset_ids",
    "result_mismatch",
    "source_fingerprint",
]


@dataclass
class Sample:
    """One item of a run, as a DataLoader worker hands it over.

    Attributes:
        index: the item's index in the dataset.
        id: the clip id (names its result file).
        input: what the run's job explains: a ``(C, T, H, W)`` float32 clip on the CPU, or a whole
            video's sampled frames ([`VideoFrames`][videoattr.pipeline.VideoFrames]); ``None``
            when reading failed.
        label: the label text (a video's name before ``-``, or a class name), else ``None``.
        target: the class to explain, or ``None`` for the model's top class.
        source: the video path (or what the dataset's ``sources`` says), else ``None``.
        error: ``"ErrorType: message"`` when reading failed, else ``None``.
        traceback: the formatted traceback of that error.
        fingerprint: the content fingerprint of the source file or frame folder, taken before it
            was read (see [`fingerprint`][videoattr.io.fingerprint.fingerprint]), else ``None``.
    """

    index: int
    id: str
    input: Tensor | VideoFrames | None = None
    label: str | None = None
    target: int | None = None
    source: str | None = None
    error: str | None = None
    traceback: str | None = None
    fingerprint: str | None = None

    def pin_memory(self) -> Sample:
        """The same sample with its clip in pinned memory (used by ``DataLoader(pin_memory=True)``)."""
        if not isinstance(self.input, Tensor):
            return self
        return replace(self, input=self.input.pin_memory())


class ItemReader(Protocol):
    """What checks a dataset item's input: the run's job (see `videoattr.runner.jobs`)."""

    def check_input(self, value: object, index: int) -> Tensor | VideoFrames:
        """The input of item ``index``, checked."""
        ...


def collate_samples(batch: list[Sample]) -> list[Sample]:
    """The DataLoader's ``collate_fn``: keep the samples as a list (the run stacks clips by shape)."""
    return batch


def dataset_ids(data: Any) -> list[str]:
    """The clip ids of a dataset: its ``ids`` attribute, else ``f"{i:06d}"`` for item ``i``.

    Raises:
        ValueError: ``ids`` has the wrong length, an invalid id, or a repeated id.
    """
    n = len(data)
    ids = getattr(data, "ids", None)
    if ids is None:
        width = max(6, len(str(n - 1)))
        return [f"{i:0{width}d}" for i in range(n)]
    ids = [check_id(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"dataset.ids has {len(ids)} ids for {n} items")
    if len(set(ids)) != n:
        repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
        raise ValueError(f"dataset.ids must be unique; repeated: {repeated[:10]}")
    return ids


class ClipItems(Dataset[Sample]):
    """Wrap a dataset so that item ``i`` is always a [`Sample`][videoattr.runner.dataset.Sample] (errors included, never raised).

    Args:
        data: a [`VideoFolder`][videoattr.datasets.folders.VideoFolder] or a map-style Dataset of ``(clip, target_or_label[, extra])``.
        ids: the clip ids, one per item (see [`dataset_ids`][videoattr.runner.dataset.dataset_ids]).
        class_names: the model's class names, to turn a label into a class index.
        job: what checks each item's input: the run's job (a
            [`ClipJob`][videoattr.runner.jobs.ClipJob] for clips, a
            [`VideoJob`][videoattr.runner.jobs.VideoJob] for whole videos, items
            ``(VideoFrames, target_or_label[, extra])``). Default: clips.
    """

    def __init__(
        self,
        data: Any,
        ids: Sequence[str],
        class_names: Sequence[str] | None = None,
        *,
        job: ItemReader | None = None,
    ) -> None:
        self.data = data
        self.check_input = job.check_input if job is not None else check_clip
        self.ids = list(ids)
        self.class_names = list(class_names) if class_names is not None else None
        sources = getattr(data, "sources", None)
        self.sources = [str(s) for s in sources] if sources is not None else None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        sample = Sample(
            index=index,
            id=self.ids[index],
            source=self.sources[index] if self.sources is not None else None,
        )
        try:
            sample.fingerprint = source_fingerprint(sample.source)
            sample.input, sample.label, sample.target = self._read(index)
        except Exception as err:  # recorded as this clip's failure; the run goes on
            sample.error = f"{type(err).__name__}: {err}"
            sample.traceback = tb.format_exc()
        return sample

    def _read(self, index: int) -> tuple[Tensor | VideoFrames, str | None, int | None]:
        item = self.data[index]
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(
                f"dataset item {index} must be (clip, target_or_label) or (clip, target_or_label, "
                f"id); got {describe(item)}"
            )
        clip, tl = item[0], item[1]
        if len(item) == 3 and isinstance(item[2], str) and item[2] != self.ids[index]:
            raise ValueError(
                f"dataset item {index} says its id is {item[2]!r} but dataset.ids says "
                f"{self.ids[index]!r}"
            )
        clip = self.check_input(clip, index)
        label: str | None = None
        target: int | None = None
        if isinstance(tl, Tensor) and tl.numel() == 1 and not tl.is_floating_point():
            tl = int(tl.item())
        if isinstance(tl, str):
            label = tl
            target = class_from_label(tl, self.class_names, strict=False)
        elif isinstance(tl, int) and not isinstance(tl, bool):
            target = tl
            names = self.class_names
            label = names[tl] if names is not None and 0 <= tl < len(names) else str(tl)
        elif tl is not None:
            raise TypeError(
                f"dataset item {index}: the target must be a class index, a class name or None; "
                f"got {describe(tl)}"
            )
        return clip, label, target


def source_fingerprint(source: str | None) -> str | None:
    """The fingerprint of a source that is a file or a folder on disk, else ``None``."""
    if source is None or not os.path.exists(source):
        return None
    return fingerprint(source)


def result_mismatch(clip_id: str, meta: Mapping[str, Any], source: str | None) -> str | None:
    """Why a stored result does not belong to clip ``clip_id`` read from ``source`` now, else ``None``.

    A result belongs to its clip when the id inside it is the clip's (a renamed or swapped result
    file is caught) and, when it recorded its source's fingerprint, the source still has it (a
    video replaced by other content is caught).
    """
    recorded = meta.get("id")
    if recorded is not None and recorded != clip_id:
        return f"the result file of {clip_id!r} holds the result of {recorded!r}"
    expected = meta.get("source_fingerprint")
    if isinstance(expected, str) and source is not None:
        try:
            now = source_fingerprint(source)
        except OSError as err:
            return f"its source {source} cannot be read ({err})"
        if now is None:
            return f"its source {source} no longer exists"
        if now != expected:
            return f"its source {source} changed since the result was made"
    return None


def check_clip(value: object, index: int) -> Tensor:
    """Dataset item ``index``'s clip as ``(C, T, H, W)`` float32 on the CPU.

    Raises:
        TypeError: not a float tensor.
        ValueError: not ``(C, T, H, W)`` (nor ``(1, C, T, H, W)``).
    """
    if not isinstance(value, Tensor) or not value.is_floating_point():
        raise TypeError(
            f"dataset item {index}: clip must be a float tensor (VideoFrames need a whole-video "
            f"run); got {describe(value)}"
        )
    clip = value[0] if value.dim() == 5 and value.shape[0] == 1 else value
    if clip.dim() != 4:
        raise ValueError(
            f"dataset item {index}: clip must have shape (C, T, H, W); got {tuple(clip.shape)}"
        )
    return clip.detach().to("cpu", torch.float32)
