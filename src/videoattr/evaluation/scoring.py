"""Scores of one video's maps against its boxes, and their class-averaged means with standard errors.

Per video (``score_video``) the pointing game counts hits and scored frames under each protocol
([`pointing_on_boxes`][videoattr.metrics.pointing_on_boxes]), the chance level counts the hits a
uniformly random peak would expect ([`chance_hits`][videoattr.metrics.chance_hits]), and the mass
in the boxes is [`mass_in_ground_truth`][videoattr.metrics.mass_in_ground_truth] of the whole clip.
Over videos (`summarise`) each column is averaged within each class, then over the classes
([`class_average`][videoattr.metrics.class_average]), and its standard error is the standard
deviation of [`bootstrap`][videoattr.metrics.bootstrap] replicates that resample the videos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from videoattr.metrics import (
    bootstrap,
    boxes_to_masks,
    chance_hits,
    class_average,
    mass_in_ground_truth,
    pointing_on_boxes,
)
from videoattr.metrics.protocols import PROTOCOLS, Protocol

__all__ = ["COLUMNS", "Cell", "VideoScores", "baseline_scores", "score_video", "summarise"]

#: The table's score columns: key, heading, and what a random map scores (see `baseline_scores`).
COLUMNS: dict[str, str] = {
    "pointing": "Pointing",
    "pointing_reference": "Pointing (reference protocol)",
    "mass": "Mass in boxes",
    "grounding": "Joined-pair grounding",
}


@dataclass(frozen=True)
class VideoScores:
    """One video's counts: hits and scored frames per protocol, and the share of the mass in the boxes.

    Attributes:
        id: the video's id.
        label: its class index.
        hits, frames: correct pointing game: hits and scored frames (frames with a box).
        ref_hits, ref_frames: the reference protocol's hits and scored frames (every frame).
        mass: share of the positive attribution inside the boxes (NaN for a map without mass).
        correct: whether the model's top class is the label (``None`` when unknown).
    """

    id: str
    label: int
    hits: float
    frames: float
    ref_hits: float
    ref_frames: float
    mass: float
    correct: bool | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record."""
        return asdict(self)


def score_video(
    maps: Tensor,
    boxes: Tensor,
    label: int,
    video_id: str,
    *,
    tolerance: float | None = None,
    smooth: float = 0.0,
    correct: bool | None = None,
) -> VideoScores:
    """Score ``(A, T, H, W)`` (or ``(1, A, T, H, W)``) maps against ``(T, N, 4)`` boxes in clip pixels.

    Args:
        maps: the video's attribution maps (channels are summed).
        boxes: its boxes per frame, NaN where there is none.
        label: its class index.
        video_id: its id.
        tolerance: pointing tolerance in pixels; ``None`` is 7 px at 112 x 112 scaled.
        smooth: per-frame Gaussian smoothing of the maps before the peak (std in px). Default 0.
        correct: whether the model classified it right (recorded).
    """
    m = maps if maps.dim() == 5 else maps.unsqueeze(0)
    b = boxes.unsqueeze(0).to(m.device)
    h, w = m.shape[-2:]
    found = {}
    for protocol in PROTOCOLS:
        r = pointing_on_boxes(m, b, protocol=protocol, tolerance=tolerance, smooth=smooth)  # type: ignore[arg-type]
        found[protocol] = (float((r.hits & r.valid).sum()), float(r.valid.sum()))
    gt = boxes_to_masks(b, (h, w))
    mass = float(mass_in_ground_truth(m, gt)[0]) if bool(gt.any()) else math.nan
    return VideoScores(
        id=video_id,
        label=int(label),
        hits=found["correct"][0],
        frames=found["correct"][1],
        ref_hits=found["reference"][0],
        ref_frames=found["reference"][1],
        mass=mass,
        correct=correct,
    )


def baseline_scores(
    boxes: Tensor,
    size: tuple[int, int],
    label: int,
    video_id: str,
    kind: str,
    *,
    tolerance: float | None = None,
) -> VideoScores:
    """The scores of a baseline map: ``"oracle"`` (the boxes' mask itself) or ``"random"`` (expected).

    ``"random"`` is exact, not sampled: the expected hits of a peak drawn uniformly over each frame
    ([`chance_hits`][videoattr.metrics.chance_hits]) and, for the mass, the boxes' share of the
    clip's pixels (what a map of uniform noise scores on average).
    """
    b = boxes.unsqueeze(0)
    if kind == "oracle":
        oracle = boxes_to_masks(b, size).float()
        return score_video(oracle[0], boxes, label, video_id, tolerance=tolerance)
    if kind != "random":
        raise ValueError(f"kind must be 'oracle' or 'random'; got {kind!r}")
    found = {}
    for protocol in PROTOCOLS:
        expected, valid = chance_hits(b, size, protocol=protocol, tolerance=tolerance)  # type: ignore[arg-type]
        found[protocol] = (float((expected * valid).sum()), float(valid.sum()))
    gt = boxes_to_masks(b, size)
    share = float(gt.float().mean()) if bool(gt.any()) else math.nan
    return VideoScores(video_id, int(label), *found["correct"], *found["reference"], mass=share)


@dataclass(frozen=True)
class Cell:
    """A table cell: the class-averaged score, its bootstrap standard error, and the videos it uses."""

    mean: float
    se: float
    videos: int

    def text(self, digits: int = 3) -> str:
        """``"0.712 ± 0.031"`` (``"n/a"`` when undefined)."""
        if math.isnan(self.mean):
            return "n/a"
        return f"{self.mean:.{digits}f} ± {self.se:.{digits}f}"


def _column(scores: Sequence[VideoScores], key: str) -> tuple[Tensor, Tensor, Protocol]:
    if key == "pointing":
        return (
            torch.tensor([s.hits for s in scores], dtype=torch.float64),
            torch.tensor([s.frames for s in scores], dtype=torch.float64),
            "correct",
        )
    if key == "pointing_reference":
        return (
            torch.tensor([s.ref_hits for s in scores], dtype=torch.float64),
            torch.tensor([s.ref_frames for s in scores], dtype=torch.float64),
            "reference",
        )
    mass = torch.tensor([s.mass for s in scores], dtype=torch.float64)
    ok = ~mass.isnan()
    return torch.where(ok, mass, torch.zeros_like(mass)), ok.double(), "correct"


def summarise(
    scores: Sequence[VideoScores], num_classes: int, *, resamples: int = 1000, seed: int = 0
) -> dict[str, Cell]:
    """Each column of `COLUMNS`: the mean over classes of the per-class score, with its standard error.

    The pointing columns pool the frames of a class (hits over scored frames, as
    [`PointingGame`][videoattr.metrics.PointingGame]); the mass column averages the videos of a
    class. The reference column averages over all ``num_classes`` classes, as the reference code
    does (a class without videos counts 0); the others over the classes present.
    """
    out: dict[str, Cell] = {}
    labels = torch.tensor([s.label for s in scores], dtype=torch.long)
    for key in ("pointing", "pointing_reference", "mass"):
        if not scores:
            out[key] = Cell(math.nan, math.nan, 0)
            continue
        values, totals, protocol = _column(scores, key)

        def stat(
            idx: Tensor, v: Tensor = values, n: Tensor = totals, p: Protocol = protocol
        ) -> float:
            return class_average(v[idx], n[idx], labels[idx], num_classes, protocol=p)

        mean = stat(torch.arange(len(scores)))
        reps = bootstrap(stat, len(scores), resamples=resamples, seed=seed)
        reps = reps[~reps.isnan()]
        se = float(reps.std()) if reps.numel() > 1 else math.nan
        out[key] = Cell(mean, se, int((totals > 0).sum()))
    return out
