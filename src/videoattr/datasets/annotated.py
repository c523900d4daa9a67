"""Annotated videos as clips with boxes, read the way a model reads them: the loaders' common part.

Each loader of a published annotation format ([`act`][videoattr.datasets.act],
[`something_else`][videoattr.datasets.something_else], [`epic`][videoattr.datasets.epic]) turns its
files into [`AnnotatedVideo`][videoattr.datasets.annotated.AnnotatedVideo] records;
[`AnnotatedClips`][videoattr.datasets.annotated.AnnotatedClips] checks them against the frames on disk
and serves clips exactly as the model's adapter would read them (its frame sampling and
preprocessing) with the boxes moved along ([`ClipGeometry`][videoattr.datasets.boxes.ClipGeometry]).

**Loud data.** A video whose frame folder is missing, whose number of frame files disagrees with the
annotation, that has a box outside its frame or on a frame it does not have, or whose class is not
among the labels is never scored as if it were fine: with ``on_problem="skip"`` (default) it is left
out and listed in ``skipped`` (``(video, reason)``; the evaluation reports the count and the list),
with ``"error"`` the first problem raises a one-line ``ValueError``. A box that passes its frame's
edge by at most [`edge_slack`][videoattr.datasets.boxes.edge_slack] (2% of the side, at least 2
pixels: annotators' boxes often touch or pass the edge by a pixel or two) is clipped to the frame
instead, and counted in ``clipped`` (``(video, number of boxes)``; the evaluation reports the count
and the list); a box farther outside still leaves its video out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from videoattr.core.validation import check_choice, describe
from videoattr.datasets.boxes import (
    ClipGeometry,
    box_problem,
    check_preprocessing,
    clip_to_frame,
    pad_boxes,
)
from videoattr.datasets.folders import safe_name

__all__ = ["AnnotatedClips", "AnnotatedVideo", "OnProblem", "clip_near_edges", "unique_safe_ids"]

OnProblem = Literal["skip", "error"]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AnnotatedVideo:
    """One annotated video, in the source's own pixel coordinates and frame numbers.

    Attributes:
        name: the video's name in the annotation (``"Basketball/v_Basketball_g01_c01"``).
        label: its class index into the dataset's labels.
        frames_dir: the folder of its frame images.
        frame_names: the file name of each frame, in order (frame ``i`` is ``frame_names[i]``).
        size: ``(H, W)`` of the frames, as the annotation says.
        boxes: frame index (0-based) -> the boxes ``(x0, y0, x1, y1)`` on that frame (continuous
            pixel coordinates, see [`videoattr.datasets.boxes`][videoattr.datasets.boxes]); frames
            missing from the mapping have no box.
    """

    name: str
    label: int
    frames_dir: Path
    frame_names: tuple[str, ...]
    size: tuple[int, int]
    boxes: Mapping[int, Sequence[Box]] = field(default_factory=dict)
    whole_folder: bool = True

    @property
    def nframes(self) -> int:
        """Number of frames the annotation says the video has."""
        return len(self.frame_names)


def unique_safe_ids(names: Sequence[str]) -> list[str]:
    """One plain file name per video name (``/`` becomes ``_``), made unique by a suffix when needed."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = safe_name(name.replace("/", "__"))
        i, candidate = 1, base
        while candidate in seen:
            i += 1
            candidate = f"{base}~{i}"
        seen.add(candidate)
        out.append(candidate)
    return out


def clip_near_edges(video: AnnotatedVideo) -> tuple[AnnotatedVideo, int]:
    """``video`` with its boxes that pass the frame's edge by a little clipped, and how many were.

    "A little" is [`edge_slack`][videoattr.datasets.boxes.edge_slack]; boxes farther outside stay as
    they are, for the frame check to refuse.

    Returns:
        ``(video, n)``: the same record when ``n == 0``, else a copy with ``n`` boxes clipped.
    """
    boxes: dict[int, list[Box]] = {}
    n = 0
    for index, frame in video.boxes.items():
        boxes[index] = []
        for box in frame:
            clipped = clip_to_frame(box, video.size)
            n += clipped != tuple(float(v) for v in box)
            boxes[index].append(clipped)
    return (replace(video, boxes=boxes), n) if n else (video, 0)


def video_problem(video: AnnotatedVideo, num_classes: int) -> str | None:
    """Why ``video`` cannot be scored as annotated, else ``None`` (reads its folder's listing)."""
    if not 0 <= video.label < num_classes:
        return f"class index {video.label} is not among the {num_classes} labels"
    if not video.frames_dir.is_dir():
        return f"frame folder {str(video.frames_dir)!r} is missing"
    try:
        present = set(os.listdir(video.frames_dir))
    except OSError as err:
        return f"frame folder {str(video.frames_dir)!r} cannot be read ({err.strerror})"
    images = {n for n in present if n.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))}
    if video.whole_folder and len(images) != video.nframes:
        return (
            f"frame folder {str(video.frames_dir)!r} holds {len(images)} frame images; the "
            f"annotation says {video.nframes} frames"
        )
    missing = [n for n in video.frame_names if n not in present]
    if missing:
        return f"frame {missing[0]!r} is missing from {str(video.frames_dir)!r}"
    for index, boxes in video.boxes.items():
        if not 0 <= index < video.nframes:
            return f"a box on frame {index + 1}, but the video has {video.nframes} frames"
        for box in boxes:
            problem = box_problem(box, video.size)
            if problem:
                return f"frame {index + 1}: {problem}"
    return None


class AnnotatedClips(Dataset[tuple[Tensor, int, str]]):
    """Annotated videos as a model reads them: clips, labels, and boxes in the clip's pixels.

    Item ``i`` is ``(clip, label, id)``, what the dataset runner takes
    ([`videoattr.runner.run`][videoattr.runner.run]): ``clip`` ``(C, T, H, W)`` float32, ``label`` the
    class index, ``id`` a plain file name made from the video's name. `boxes` and `ground_truth`
    give the annotation of the same frames without reading any image.

    Args:
        videos: the annotated videos.
        class_names: the dataset's labels, in class-index order.
        clip_len: frames per clip ``T``.
        sampling: ``n -> frame indices`` (a model adapter's ``sampling.indices``).
        preprocessing: uint8 frames ``(T, H, W, 3)`` to ``(1, C, T, H, W)``, with ``resize`` and
            ``crop`` attributes (a model adapter's [`Preprocessing`][videoattr.zoo.Preprocessing]).
        name: the dataset's name for messages. Default ``"dataset"``.
        on_problem: ``"skip"`` (default) leaves out and lists the videos that are not what the
            annotation claims; ``"error"`` raises on the first.
        check_frames: compare each frame folder with the annotation (one listing per video).
            Default ``True``.

    Attributes:
        videos: the videos kept (boxes that passed the frame's edge by a little clipped to it).
        skipped: ``(video name, reason)`` of each video left out.
        clipped: ``(video name, number of boxes)`` of each kept video with boxes clipped to its
            frame (see [`clip_near_edges`][videoattr.datasets.annotated.clip_near_edges]).
        ids, sources, class_names, labels: per kept video (ids and sources as the runner reads them).

    Raises:
        ValueError: (``on_problem="error"``) a video that is not what its annotation claims.
    """

    def __init__(
        self,
        videos: Sequence[AnnotatedVideo],
        class_names: Sequence[str],
        *,
        clip_len: int,
        sampling: Callable[[int], Sequence[int]],
        preprocessing: Callable[[Any], Tensor],
        name: str = "dataset",
        on_problem: OnProblem = "skip",
        check_frames: bool = True,
    ) -> None:
        check_choice(on_problem, "on_problem", ("skip", "error"))
        if not callable(sampling) or not callable(preprocessing):
            raise TypeError(
                f"sampling and preprocessing must be callables; got {describe(sampling)} and "
                f"{describe(preprocessing)}"
            )
        check_preprocessing(preprocessing)
        self.name = name
        self.class_names = [str(c) for c in class_names]
        self.clip_len = int(clip_len)
        self.sampling = sampling
        self.preprocessing = preprocessing
        self.skipped: list[tuple[str, str]] = []
        self.clipped: list[tuple[str, int]] = []
        kept: list[AnnotatedVideo] = []
        for given in videos:
            video, clipped = clip_near_edges(given)
            problem = video_problem(video, len(self.class_names)) if check_frames else None
            if problem is None and video.nframes < self.clip_len:
                problem = f"{video.nframes} frames, fewer than the model's {self.clip_len}"
            if problem is None:
                kept.append(video)
                if clipped:
                    self.clipped.append((video.name, clipped))
            elif on_problem == "error":
                raise ValueError(f"{name}: video {video.name!r}: {problem}")
            else:
                self.skipped.append((video.name, problem))
        self.videos = kept
        self.ids = unique_safe_ids([v.name for v in kept])
        self.sources = [str(v.frames_dir) for v in kept]
        self.labels = [v.label for v in kept]

    @classmethod
    def for_model(
        cls, videos: Sequence[AnnotatedVideo], class_names: Sequence[str], model: Any, **kwargs: Any
    ) -> AnnotatedClips:
        """Read the videos with a model adapter's clip length, frame sampling and preprocessing.

        Raises:
            TypeError: ``model`` lacks ``clip_len``, ``sampling.indices`` or ``preprocessing`` (a
                [`VideoAdapter`][videoattr.zoo.VideoAdapter] has them).
        """
        sampling = getattr(getattr(model, "sampling", None), "indices", None)
        preprocessing = getattr(model, "preprocessing", None)
        clip_len = getattr(model, "clip_len", None)
        if not callable(sampling) or preprocessing is None or not isinstance(clip_len, int):
            raise TypeError(
                "reading an annotated dataset needs a model adapter with clip_len, "
                f"sampling.indices and preprocessing (see videoattr.zoo.wrap); got {describe(model)}"
            )
        return cls(
            videos,
            class_names,
            clip_len=clip_len,
            sampling=sampling,
            preprocessing=preprocessing,
            **kwargs,
        )

    def __len__(self) -> int:
        return len(self.videos)

    def frame_indices(self, index: int) -> list[int]:
        """The 0-based frames of video ``index`` that make up its clip (the model's sampling)."""
        video = self.videos[index]
        return [int(i) for i in self.sampling(video.nframes)]

    def geometry(self, index: int) -> ClipGeometry:
        """How video ``index``'s frames map onto the clip."""
        return ClipGeometry.of_preprocessing(self.videos[index].size, self.preprocessing)

    def __getitem__(self, index: int) -> tuple[Tensor, int, str]:
        from videoattr.io.folders import read_frame_images

        video = self.videos[index]
        files = [video.frames_dir / video.frame_names[i] for i in self.frame_indices(index)]
        frames = read_frame_images(files, video.frames_dir)
        h, w = frames.shape[1:3]
        if (h, w) != video.size:
            raise ValueError(
                f"{self.name}: video {video.name!r}: frames are {w} x {h} pixels; the annotation "
                f"says {video.size[1]} x {video.size[0]}"
            )
        clip = self.preprocessing(frames)
        clip = clip[0] if clip.dim() == 5 else clip
        return clip.detach().to("cpu", torch.float32), video.label, self.ids[index]

    def source_boxes(self, index: int) -> Tensor:
        """``(T, N, 4)`` boxes of the clip's frames in the source's pixels (NaN: no box)."""
        video = self.videos[index]
        return pad_boxes([list(video.boxes.get(i, ())) for i in self.frame_indices(index)])

    def boxes(self, index: int) -> Tensor:
        """``(T, N, 4)`` boxes of the clip's frames in the clip's pixels (NaN: no box)."""
        return self.geometry(index).transform(self.source_boxes(index))

    def ground_truth(self, index: int) -> Tensor:
        """``(1, T, H, W)`` bool mask of the clip's frames: the union of their boxes."""
        from videoattr.metrics.pointing import boxes_to_masks

        boxes = self.boxes(index)
        size = self.geometry(index).size
        return boxes_to_masks(boxes.transpose(0, 1), size).any(dim=0)
