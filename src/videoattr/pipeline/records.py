"""The stored record of a result: one type per kind of result, written and read in one place.

A clip's result is a [`ClipRecord`][videoattr.pipeline.records.ClipRecord], a whole video's a
[`VideoRecord`][videoattr.pipeline.records.VideoRecord]. ``videoattr explain`` writes one as the JSON
beside its pictures, ``videoattr run`` (and [`run`][videoattr.runner.run]) stores one as the ``meta``
of each result, and ``videoattr render`` reads it back: each type has ``to_meta()`` (the JSON
object) and ``from_meta()`` (the record again). Adding a field to a result means adding it here.

Every record holds ``version`` ([`RECORD_VERSION`][videoattr.pipeline.records.RECORD_VERSION]).
Records written before records had a version (version 0) have the same keys and are read the same
way; a record of a newer version is refused with a one-line error. Keys that a record does not
know (the model, the weights, the run's clip id, ...) are kept in ``extra`` as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from videoattr.pipeline.explain import ClipExplanation
from videoattr.pipeline.video_explanation import VideoExplanation

RECORD_VERSION = 1
"""The version of the records this release writes (0: records written before they had one)."""


def _version(meta: Mapping[str, Any]) -> int:
    version = meta.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"a result's record must have an integer version >= 0; got {version!r}")
    if version > RECORD_VERSION:
        raise ValueError(
            f"the result's record has version {version}, newer than this videoattr reads "
            f"({RECORD_VERSION}): upgrade videoattr to read it"
        )
    return version


def _extra(meta: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in known}


@dataclass(frozen=True)
class ClassScore:
    """A class and the model's probability of it: ``{"index", "name", "prob"}`` in a record."""

    index: int
    name: str | None
    prob: float

    def to_meta(self) -> dict[str, Any]:
        """The JSON object."""
        return {"index": self.index, "name": self.name, "prob": self.prob}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ClassScore:
        """Read it back."""
        name = meta.get("name")
        return cls(int(meta["index"]), name if isinstance(name, str) else None, float(meta["prob"]))


@dataclass(frozen=True)
class TargetResult:
    """What a clip's record says about one explained class.

    Attributes:
        target: the class and its probability on the clip.
        preserved_prob: per area, its probability on the preserved clip (perturbation methods).
        seconds: wall time of the attribution.
    """

    target: ClassScore
    preserved_prob: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_meta(self) -> dict[str, Any]:
        """The JSON object (one entry of a record's ``targets``)."""
        return {
            "target": self.target.to_meta(),
            "preserved_prob": list(self.preserved_prob),
            "seconds": self.seconds,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> TargetResult:
        """Read it back."""
        return cls(
            ClassScore.from_meta(meta["target"]),
            [float(p) for p in meta.get("preserved_prob") or []],
            float(meta.get("seconds", 0.0)),
        )


_CLIP_KEYS = (
    "version",
    "method",
    "prediction",
    "target",
    "targets",
    "areas",
    "preserved_prob",
    "map_shape",
    "seconds",
    "batch_size",
)


@dataclass
class ClipRecord:
    """The record of one explained clip, for one class or several.

    The JSON object (``to_meta``) has ``version``, ``method``, ``prediction`` and ``target``
    (``index``, ``name``, ``prob``), ``areas``, ``preserved_prob`` (per area, perturbation methods),
    ``map_shape``, ``seconds``, ``batch_size``, then every key of ``extra``. With several classes
    (``several=True``: maps ``(K, A, T, H, W)``) it also has ``targets``, one entry per class
    (``target``, ``preserved_prob``, ``seconds``), the first repeated at the top level, and
    ``map_shape`` starts with ``K``.

    Attributes:
        method: the method's name.
        prediction: the model's top class on the clip.
        targets: one entry per explained class (at least one).
        areas: the perturbation areas (empty for the other methods).
        map_shape: the shape of one class's maps, ``(A, T, H, W)``.
        batch_size: clips attributed in the same call.
        several: the result holds a target axis (several classes were asked for).
        extra: every other key, as given (``model``, ``settings``, a run's ``id``, ``source``, ...).
        version: the record's version (0 for records written before it existed).
    """

    method: str
    prediction: ClassScore
    targets: list[TargetResult]
    areas: list[float] = field(default_factory=list)
    map_shape: list[int] = field(default_factory=list)
    batch_size: int = 1
    several: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = RECORD_VERSION

    @classmethod
    def of(
        cls,
        results: Sequence[ClipExplanation],
        class_names: Sequence[str] | None,
        *,
        method: str,
        areas: Sequence[float],
        extra: Mapping[str, Any] | None = None,
        several: bool | None = None,
    ) -> ClipRecord:
        """The record of a clip's explanations, one per class (``several``: default when more than one)."""
        if not results:
            raise ValueError("a clip record needs at least one explanation")

        def score(i: int, p: float) -> ClassScore:
            name = class_names[i] if class_names is not None and 0 <= i < len(class_names) else None
            return ClassScore(i, name, p)

        first = results[0]
        return cls(
            method=method,
            prediction=score(first.prediction, first.prediction_prob),
            targets=[
                TargetResult(score(r.target, r.target_prob), list(r.preserved_prob), r.seconds)
                for r in results
            ],
            areas=[float(a) for a in areas],
            map_shape=list(first.maps.shape[1:]),
            batch_size=first.batch_size,
            several=len(results) > 1 if several is None else several,
            extra=dict(extra or {}),
        )

    @property
    def settings(self) -> dict[str, Any]:
        """The method's configuration (``extra["settings"]``; empty when none was recorded)."""
        found = self.extra.get("settings")
        return dict(found) if isinstance(found, Mapping) else {}

    def to_meta(self) -> dict[str, Any]:
        """The JSON object (see the class notes)."""
        first = self.targets[0]
        meta: dict[str, Any] = {
            "version": self.version,
            "method": self.method,
            "prediction": self.prediction.to_meta(),
            "target": first.target.to_meta(),
            "areas": list(self.areas),
            "preserved_prob": list(first.preserved_prob),
            "map_shape": [len(self.targets), *self.map_shape] if self.several else self.map_shape,
            "seconds": first.seconds,
            "batch_size": self.batch_size,
        }
        for key, value in self.extra.items():
            meta.setdefault(key, value)
        if self.several:
            meta["targets"] = [t.to_meta() for t in self.targets]
        return meta

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ClipRecord:
        """Read a record back (a version-0 record too).

        Raises:
            ValueError: a record of a newer version, or one that is not a clip's (no ``target``).
        """
        version = _version(meta)
        if "target" not in meta or "prediction" not in meta:
            raise ValueError("not a clip result: its record has no target or prediction")
        several = isinstance(meta.get("targets"), list)
        if several:
            targets = [TargetResult.from_meta(t) for t in meta["targets"]]
        else:
            targets = [
                TargetResult(
                    ClassScore.from_meta(meta["target"]),
                    [float(p) for p in meta.get("preserved_prob") or []],
                    float(meta.get("seconds", 0.0)),
                )
            ]
        shape = [int(s) for s in meta.get("map_shape", [])]
        return cls(
            method=str(meta.get("method", "")),
            prediction=ClassScore.from_meta(meta["prediction"]),
            targets=targets,
            areas=[float(a) for a in meta.get("areas", [])],
            map_shape=shape[1:] if several else shape,
            batch_size=int(meta.get("batch_size", 1)),
            several=several,
            extra=_extra(meta, _CLIP_KEYS),
            version=version,
        )

    def explanations(
        self, maps: np.ndarray | Tensor, preserved: Sequence[Tensor | None] | None = None
    ) -> list[ClipExplanation]:
        """The clip's explanations again, one per class, from its stored maps.

        Args:
            maps: ``(A, T, H, W)``, or ``(K, A, T, H, W)`` for a record of several classes.
            preserved: per class, the preserved clips ``(1, A, C, T, H, W)`` (rebuilt by the caller
                for perturbation methods), else ``None``.

        Raises:
            ValueError: maps that do not match the record's classes.
        """
        stack = torch.as_tensor(np.asarray(maps)) if not isinstance(maps, Tensor) else maps
        stacks = stack if self.several else stack[None]
        if len(stacks) != len(self.targets):
            raise ValueError(
                f"maps {tuple(stack.shape)} do not match the {len(self.targets)} recorded class(es)"
            )
        return [
            ClipExplanation(
                maps=stacks[k][None].float(),
                prediction=self.prediction.index,
                prediction_prob=self.prediction.prob,
                target=t.target.index,
                target_prob=t.target.prob,
                preserved=preserved[k] if preserved is not None else None,
                preserved_prob=list(t.preserved_prob),
                seconds=t.seconds,
                batch_size=self.batch_size,
            )
            for k, t in enumerate(self.targets)
        ]


_VIDEO_KEYS = (
    "version",
    "method",
    "target",
    "targets",
    "num_frames",
    "fps",
    "clip_len",
    "stride",
    "frame_step",
    "padded",
    "areas",
    "map_shape",
    "seconds",
    "windows",
    "window_settings",
    "probabilities",
    "frame_indices",
    "coverage",
    "timestamps",
)


@dataclass
class VideoRecord:
    """The record of one whole video explained by sliding windows, for one class or several.

    The JSON object (``to_meta``) has what
    [`VideoExplanation.summary`][videoattr.pipeline.video_explanation.VideoExplanation.summary] says of the
    first class (``method``, ``target``, ``num_frames``, ``fps``, ``clip_len``, ``stride``,
    ``frame_step``, ``padded``, ``areas``, ``map_shape``, ``seconds``, ``windows``,
    ``timestamps``), ``version``, ``window_settings`` (the method's record and the window
    settings), and, unless left out, the window probabilities ``(W, K)``, the video frame of each
    map and how many windows cover it: enough to rebuild the explanations without the model. With
    several classes, ``targets`` (one entry per class) and ``map_shape`` ``(K, A, M, H, W)``.

    Attributes:
        results: one explanation per class (their maps are not part of the record).
        several: the result holds a target axis.
        extra: every other key, as given (``model``, ``settings``, a run's ``id``, ...).
        version: the record's version.
        map_shape: the shape of the stored maps when the results do not hold them (a run keeps
            the maps of several classes in one array), else ``None``.
    """

    results: list[VideoExplanation]
    several: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = RECORD_VERSION
    map_shape: list[int] | None = None

    def to_meta(self, *, scores: bool = True) -> dict[str, Any]:
        """The JSON object; ``scores=False`` leaves out the probabilities, frames and coverage."""
        first = self.results[0]
        meta: dict[str, Any] = {"version": self.version, **first.summary()}
        meta["window_settings"] = meta.pop("settings")
        if scores:
            meta["probabilities"] = first.probabilities.tolist()
            meta["frame_indices"] = first.frame_indices.tolist()
            meta["coverage"] = first.coverage.tolist()
        for key, value in self.extra.items():
            meta.setdefault(key, value)
        meta.setdefault("settings", dict(first.config.get("method", {})))
        if self.several:
            meta["targets"] = [
                {**r.summary()["target"], "seconds": r.seconds} for r in self.results
            ]
            meta["map_shape"] = [len(self.results), *first.maps.shape]
        if self.map_shape is not None:
            meta["map_shape"] = list(self.map_shape)
        return meta

    @classmethod
    def from_meta(
        cls,
        meta: Mapping[str, Any],
        maps: np.ndarray | Tensor,
        class_names: Sequence[str] | None = None,
    ) -> VideoRecord:
        """Read a record back with its maps (``(A, M, H, W)`` or ``(K, A, M, H, W)``).

        Raises:
            ValueError: a record of a newer version, one without the window probabilities, frames
                and coverage, or maps that do not match its classes.
        """
        version = _version(meta)
        keys = ("windows", "probabilities", "frame_indices", "coverage", "target")
        missing = [k for k in keys if k not in meta]
        if missing:
            raise ValueError(f"not a whole-video result: its record lacks {missing}")
        several = isinstance(meta.get("targets"), list)
        records = meta["targets"] if several else [meta["target"]]
        stack = (
            torch.as_tensor(np.ascontiguousarray(maps)) if not isinstance(maps, Tensor) else maps
        )
        stacks = stack if several else stack[None]
        if len(stacks) != len(records):
            raise ValueError(
                f"maps {tuple(stack.shape)} do not match the {len(records)} recorded target(s)"
            )
        window_config = dict(meta.get("window_settings", {}))
        times = meta.get("timestamps")
        timestamps = (
            tuple(float(t) for t in times)
            if isinstance(times, list) and len(times) == int(meta["num_frames"])
            else None
        )
        results = [
            VideoExplanation(
                maps=maps_k,
                frame_indices=torch.tensor(meta["frame_indices"], dtype=torch.long),
                coverage=torch.tensor(meta["coverage"], dtype=torch.long),
                window_starts=torch.tensor([w["start"] for w in meta["windows"]], dtype=torch.long),
                probabilities=torch.tensor(meta["probabilities"], dtype=torch.float32),
                target=int(record["index"]),
                target_name=record.get("name"),
                num_frames=int(meta["num_frames"]),
                clip_len=int(meta["clip_len"]),
                stride=int(meta["stride"]),
                frame_step=int(meta["frame_step"]),
                fps=float(meta["fps"]) if meta.get("fps") else None,
                padded=int(meta.get("padded", 0)),
                method=str(meta.get("method", "")),
                config=window_config,
                areas=tuple(float(a) for a in meta.get("areas", [])),
                class_names=tuple(class_names) if class_names is not None else None,
                seconds=float(record.get("seconds", meta.get("seconds", 0.0))),
                timestamps=timestamps,
            )
            for record, maps_k in zip(records, stacks, strict=True)
        ]
        return cls(results, several, _extra(meta, _VIDEO_KEYS), version)
