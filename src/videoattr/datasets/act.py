"""UCF101-24 and J-HMDB-21 in the ACT-detector format (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``).

The action tubes of UCF101-24 and J-HMDB-21 are published, as most action detection code reads
them, in the format of the ACT-detector (Kalogeiton et al., ICCV 2017): one Python 2 pickle holding

- ``labels``: the class names, in class-index order (24 for UCF101-24, 21 for J-HMDB-21);
- ``gttubes``: ``{video: {label: [tube, ...]}}``, each tube an array of rows
  ``(frame, x1, y1, x2, y2)`` with 1-based frame numbers and inclusive pixel corners;
- ``nframes``: ``{video: number of frames}``; ``resolution``: ``{video: (height, width)}``;
- ``train_videos`` / ``test_videos``: one list of videos per split (UCF101-24 has one split,
  J-HMDB-21 three),

with the frames as ``rgb-images/<video>/00001.jpg``, ... next to it. The pickle is read with
[`load_annotation_pickle`][videoattr.datasets.safe_pickle.load_annotation_pickle], which admits
only numpy arrays and plain containers.

An inclusive box ``(x1, y1, x2, y2)`` covers the pixels ``x1..x2`` and ``y1..y2``: in the continuous
coordinates of [`videoattr.datasets.boxes`][videoattr.datasets.boxes] it is
``(x1, y1, x2 + 1, y2 + 1)``. Inclusive corners are the ACT-detector's own convention: its box
utilities take a box's area as ``(x2 - x1 + 1) * (y2 - y1 + 1)``. A frame covered by several tubes
has several boxes.

The published boxes often touch or pass the frame's edge by a pixel or two (``x2 == W``, which is
``W + 1`` here). A box that passes the edge by at most
[`edge_slack`][videoattr.datasets.boxes.edge_slack] (2% of the side, at least 2 pixels) is clipped
to the frame and counted (``clipped`` of the clips, "boxes clipped" in the evaluation's table); one
farther outside leaves its video out, listed in ``skipped``.

Example:
    >>> data = act_dataset("data/UCF101_24", adapter, split="test")  # doctest: +SKIP
    >>> clip, label, video_id = data[0]                                # doctest: +SKIP
    >>> data.boxes(0).shape                                            # (T, N, 4) in clip pixels  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from videoattr.core.validation import check_choice, describe
from videoattr.datasets.annotated import AnnotatedClips, AnnotatedVideo, OnProblem
from videoattr.datasets.safe_pickle import load_annotation_pickle

__all__ = ["ACT_FILES", "ActAnnotation", "act_dataset", "act_videos", "load_act_annotation"]

#: The annotation file of each dataset in this format.
ACT_FILES: dict[str, str] = {"ucf101-24": "UCF101v2-GT.pkl", "jhmdb-21": "JHMDB-GT.pkl"}
#: The folder of frame images under the dataset's root, and the frame names (1-based).
FRAMES_DIR = "rgb-images"
FRAME_NAME = "{:05d}.jpg"

_KEYS = ("labels", "gttubes", "nframes", "resolution", "train_videos", "test_videos")


@dataclass(frozen=True)
class ActAnnotation:
    """The content of an ACT-detector annotation pickle (see the module docs)."""

    labels: list[str]
    gttubes: dict[str, dict[int, list[np.ndarray]]]
    nframes: dict[str, int]
    resolution: dict[str, tuple[int, int]]
    train_videos: list[list[str]]
    test_videos: list[list[str]]
    source: str

    def split(self, split: Literal["train", "test"], index: int = 0) -> list[str]:
        """The videos of split ``index`` (0-based: J-HMDB-21's split 1 is ``index=0``)."""
        check_choice(split, "split", ("train", "test"))
        lists = self.train_videos if split == "train" else self.test_videos
        if not 0 <= index < len(lists):
            raise ValueError(
                f"split_index must lie in [0, {len(lists) - 1}] ({self.source} has {len(lists)} "
                f"{split} split(s)); got {index}"
            )
        return list(lists[index])


def _splits(value: Any, key: str, source: str) -> list[list[str]]:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return [list(value)]  # one split written as a flat list
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (list, tuple)) for v in value):
        raise ValueError(f"{source}: {key} must be a list of video lists; got {describe(value)}")
    return [[str(v) for v in split] for split in value]


def load_act_annotation(path: str | Path) -> ActAnnotation:
    """Read and check an ACT-detector annotation pickle.

    Raises:
        FileNotFoundError: no such file.
        pickle.UnpicklingError: the pickle names anything but numpy arrays and plain containers.
        ValueError: a key is missing or holds the wrong kind of value.
    """
    source = str(path)
    data = load_annotation_pickle(path)
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a dict with keys {list(_KEYS)}; got {describe(data)}")
    missing = [k for k in _KEYS if k not in data]
    if missing:
        raise ValueError(f"{source}: the annotation lacks the keys {missing} (has {sorted(data)})")
    labels = data["labels"]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{source}: labels must be a list of class names; got {describe(labels)}")
    for key in ("gttubes", "nframes", "resolution"):
        if not isinstance(data[key], Mapping):
            raise ValueError(f"{source}: {key} must be a dict by video; got {describe(data[key])}")
    resolution: dict[str, tuple[int, int]] = {}
    for video, res in data["resolution"].items():
        if not isinstance(res, (tuple, list, np.ndarray)) or len(res) != 2:
            raise ValueError(
                f"{source}: resolution[{video!r}] must be (height, width); got {describe(res)}"
            )
        resolution[str(video)] = (int(res[0]), int(res[1]))
    return ActAnnotation(
        labels=[str(x) for x in labels],
        gttubes={str(v): dict(t) for v, t in data["gttubes"].items()},
        nframes={str(v): int(n) for v, n in data["nframes"].items()},
        resolution=resolution,
        train_videos=_splits(data["train_videos"], "train_videos", source),
        test_videos=_splits(data["test_videos"], "test_videos", source),
        source=source,
    )


def _video(
    ann: ActAnnotation, name: str, frames_root: Path
) -> tuple[AnnotatedVideo | None, str | None]:
    """The record of one video, or the reason it cannot be made."""
    if name not in ann.nframes or name not in ann.resolution:
        return None, "not in the annotation's nframes/resolution"
    tubes = ann.gttubes.get(name)
    if not tubes:
        return None, "has no tubes in gttubes"
    classes = sorted({int(c) for c in tubes})
    if len(classes) != 1:
        return None, f"has tubes of several classes {classes}"
    label = classes[0]
    n = ann.nframes[name]
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for tube in tubes[label]:
        rows = np.asarray(tube, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != 5:
            return None, f"a tube of shape {rows.shape}, not (n, 5) rows of (frame, x1, y1, x2, y2)"
        for frame, x1, y1, x2, y2 in rows.tolist():
            if frame != int(frame):
                return None, f"a tube row with frame number {frame}, not an integer"
            boxes.setdefault(int(frame) - 1, []).append((x1, y1, x2 + 1.0, y2 + 1.0))
    video = AnnotatedVideo(
        name=name,
        label=label,
        frames_dir=frames_root / name,
        frame_names=tuple(FRAME_NAME.format(i + 1) for i in range(n)),
        size=ann.resolution[name],
        boxes=boxes,
    )
    return video, None


def act_videos(
    annotation: ActAnnotation,
    root: str | Path,
    *,
    split: Literal["train", "test"] = "test",
    split_index: int = 0,
) -> tuple[list[AnnotatedVideo], list[tuple[str, str]]]:
    """The videos of a split as [`AnnotatedVideo`][videoattr.datasets.annotated.AnnotatedVideo] records.

    Returns:
        ``(videos, skipped)``: the records, and ``(video, reason)`` for each video of the split
        whose annotation is incomplete (no tubes, several classes, no frame count).
    """
    frames_root = Path(root) / FRAMES_DIR
    videos: list[AnnotatedVideo] = []
    skipped: list[tuple[str, str]] = []
    for name in annotation.split(split, split_index):
        video, problem = _video(annotation, name, frames_root)
        if video is None:
            skipped.append((name, str(problem)))
        else:
            videos.append(video)
    return videos, skipped


def find_act_file(root: str | Path, annotation: str | Path | None = None) -> Path:
    """The annotation pickle: ``annotation`` if given, else the one of `ACT_FILES` found in ``root``.

    Raises:
        FileNotFoundError: none found (the message names what was looked for).
    """
    if annotation is not None:
        path = Path(annotation)
        return path if path.is_absolute() or path.exists() else Path(root) / path
    found = [Path(root) / f for f in ACT_FILES.values() if (Path(root) / f).is_file()]
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one of {sorted(ACT_FILES.values())} in {str(root)!r}"
            + (f"; found several: {[p.name for p in found]}" if found else "")
        )
    return found[0]


def act_dataset(
    root: str | Path,
    model: Any,
    *,
    annotation: str | Path | None = None,
    split: Literal["train", "test"] = "test",
    split_index: int = 0,
    on_problem: OnProblem = "skip",
    name: str | None = None,
) -> AnnotatedClips:
    """UCF101-24 or J-HMDB-21 clips as ``model`` reads them, with their boxes.

    Args:
        root: the dataset folder, holding the annotation pickle and ``rgb-images/``.
        model: a model adapter (its clip length, frame sampling and preprocessing are used).
        annotation: the pickle; default the one of ``UCF101v2-GT.pkl`` / ``JHMDB-GT.pkl`` in
            ``root``.
        split: ``"test"`` (default) or ``"train"``.
        split_index: which split (0-based). Default 0.
        on_problem: ``"skip"`` (default) or ``"error"`` for videos that are not what the annotation
            claims (see [`AnnotatedClips`][videoattr.datasets.annotated.AnnotatedClips]).
        name: the dataset's name in messages; default the annotation file's name.

    Returns:
        The clips; ``skipped`` lists every video of the split left out, and why.
    """
    path = find_act_file(root, annotation)
    ann = load_act_annotation(path)
    videos, skipped = act_videos(ann, root, split=split, split_index=split_index)
    label = name or path.name
    if skipped and on_problem == "error":
        video, reason = skipped[0]
        raise ValueError(f"{label}: video {video!r}: {reason}")
    data = AnnotatedClips.for_model(videos, ann.labels, model, name=label, on_problem=on_problem)
    data.skipped[:0] = skipped
    return data
