"""The annotated datasets ``videoattr evaluate`` knows, by name, and the model for their classes.

A source reads its annotation once: its class names size the model's classifier before any frame is
read ([`load_model_for`][videoattr.evaluation.sources.load_model_for]), then
``source.clips(model)`` gives the clips as that model reads them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoattr.datasets.annotated import AnnotatedClips, AnnotatedVideo, OnProblem

__all__ = ["DATASETS", "DatasetSource", "load_model_for", "open_source"]


@dataclass
class DatasetSource:
    """An annotated dataset read from its files: its name, class names and videos.

    Attributes:
        name: the dataset's name (``"ucf101-24"``).
        labels: its class names, in class-index order.
        videos: the videos of the split.
        skipped: ``(video, reason)`` of the split's videos whose annotation is incomplete.
        annotation: the file the labels come from (for messages and records).
    """

    name: str
    labels: list[str]
    videos: list[AnnotatedVideo]
    skipped: list[tuple[str, str]]
    annotation: str

    def clips(
        self, model: Any, *, on_problem: OnProblem = "skip", limit: int | None = None
    ) -> AnnotatedClips:
        """The clips as ``model`` reads them (its sampling and preprocessing), first ``limit`` videos.

        Videos are checked against their frames (see
        [`AnnotatedClips`][videoattr.datasets.annotated.AnnotatedClips]); ``skipped`` lists the ones
        left out here and by the annotation reader.
        """
        if self.skipped and on_problem == "error":
            video, reason = self.skipped[0]
            raise ValueError(f"{self.name}: video {video!r}: {reason}")
        videos = self.videos if limit is None else self.videos[:limit]
        data = AnnotatedClips.for_model(
            videos, self.labels, model, name=self.name, on_problem=on_problem
        )
        data.skipped[:0] = self.skipped
        return data


def _act(name: str, file: str) -> Callable[..., DatasetSource]:
    def open_act(root: Path, split: str, split_index: int, annotation: str | None) -> DatasetSource:
        from videoattr.datasets.act import act_videos, find_act_file, load_act_annotation

        path = find_act_file(root, annotation or file)
        ann = load_act_annotation(path)
        videos, skipped = act_videos(ann, root, split=split, split_index=split_index)  # type: ignore[arg-type]
        return DatasetSource(name, ann.labels, videos, skipped, str(path))

    return open_act


def _something_else(
    root: Path, split: str, split_index: int, annotation: str | None
) -> DatasetSource:
    from videoattr.datasets.something_else import something_else_source

    labels, videos, skipped, path = something_else_source(root, split=split, boxes=annotation)
    return DatasetSource("something-else", labels, videos, skipped, path)


def _epic(root: Path, split: str, split_index: int, annotation: str | None) -> DatasetSource:
    from videoattr.datasets.epic import epic_source

    labels, videos, skipped, path = epic_source(root, annotation=annotation)
    return DatasetSource("epic-kitchens", labels, videos, skipped, path)


#: Dataset name -> ``opener(root, split, split_index, annotation)``.
DATASETS: dict[str, Callable[..., DatasetSource]] = {
    "ucf101-24": _act("ucf101-24", "UCF101v2-GT.pkl"),
    "jhmdb-21": _act("jhmdb-21", "JHMDB-GT.pkl"),
    "something-else": _something_else,
    "epic-kitchens": _epic,
}


def open_source(
    name: str,
    root: str | os.PathLike[str],
    *,
    split: str = "test",
    split_index: int = 0,
    annotation: str | None = None,
) -> DatasetSource:
    """Read dataset ``name`` from ``root`` (see `DATASETS` and the dataset pages of the docs).

    Args:
        name: ``"ucf101-24"``, ``"jhmdb-21"``, ``"something-else"`` or ``"epic-kitchens"``.
        root: the dataset's folder.
        split: ``"test"`` (default) or ``"train"`` (Something-Else: ``"validation"`` is ``"test"``).
        split_index: which split of a dataset with several (J-HMDB-21), 0-based. Default 0.
        annotation: the annotation file, when not the dataset's usual name in ``root``.

    Raises:
        ValueError: an unknown dataset name or split.
        FileNotFoundError: ``root`` or its annotation is missing.
    """
    if name not in DATASETS:
        raise ValueError(f"--dataset must be one of {sorted(DATASETS)}; got {name!r}")
    if split not in ("train", "test"):
        raise ValueError(f"--split must be 'train' or 'test'; got {split!r}")
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"--root {str(folder)!r} is not a folder")
    return DATASETS[name](folder, split, split_index, annotation)


def _normalise(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def _classifier_rows(state: dict[str, Any]) -> tuple[str, int] | None:
    """The last 2-D ``*.weight`` of a state dict (the classifier) and its number of rows."""
    for key in reversed(list(state)):
        value = state[key]
        if key.endswith("weight") and getattr(value, "dim", lambda: 0)() == 2:
            return key, int(value.shape[0])
    return None


def load_model_for(
    model: str,
    weights: str | os.PathLike[str] | None,
    labels: Sequence[str],
    *,
    dataset: str = "the dataset",
    annotation: str = "its annotation",
    **options: Any,
) -> tuple[Any, str]:
    """The zoo adapter ``model`` with a classifier of the dataset's classes, and one line that says so.

    The number of classes and their names come from the dataset's annotation. A checkpoint whose
    classifier has another number of outputs (the 400 Kinetics classes, say) is refused in one
    line before it is loaded; the bundled ``demo`` model must have the dataset's class names.

    Returns:
        ``(adapter, line)``: the adapter (its ``class_names`` are the dataset's labels) and a line
        such as ``"classes: 24 from UCF101v2-GT.pkl; checkpoint classifier fc.weight has 24 rows"``.

    Raises:
        ValueError: the checkpoint or model has another number of classes (or other names).
        FileNotFoundError: the weights file does not exist.
    """
    from videoattr import zoo

    k = len(labels)
    source = f"{k} classes of {dataset} (from {Path(annotation).name})"
    if model == "demo":
        adapter = zoo.load("demo", weights=weights, **options)
        names = list(adapter.class_names or [])
        if [_normalise(n) for n in names] != [_normalise(n) for n in labels]:
            raise ValueError(
                f"--model demo has the {len(names)} classes {names}; {dataset} has the "
                f"{source}: {list(labels)[:8]}{' ...' if k > 8 else ''}"
            )
        return adapter, f"classes: {source}; the demo model has the same {k} classes"
    line = f"classes: {source}; model {model} built with {k} outputs"
    if weights is not None:
        path = Path(weights)
        if path.is_file():
            state = zoo.read_state_dict(path, published="your fine-tuned checkpoint")
            found = _classifier_rows(state)
            if found is not None and found[1] != k:
                raise ValueError(
                    f"--weights {weights}: its classifier {found[0]} has {found[1]} outputs, but "
                    f"{dataset} has {source}; pass a checkpoint fine-tuned on {dataset}'s classes"
                )
            if found is not None:
                line = f"classes: {source}; checkpoint classifier {found[0]} has {found[1]} outputs"
    else:
        print(
            f"warning: no --weights: {model} has random weights and a random {k}-class "
            "classifier; the scores explain an untrained network",
            file=sys.stderr,
        )
    adapter = zoo.load(model, weights=weights, num_classes=k, **options)
    adapter.class_names = [str(c) for c in labels]
    return adapter, line
