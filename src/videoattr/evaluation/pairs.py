"""Temporal grounding on joined pairs: does the map point at the half that shows the explained class?

The published protocol joins two videos of different classes into one clip and explains the class
of one of them: a map that grounds the class in time puts its mass in that video's half. Here pair
``k`` joins video ``k`` (the target, its class explained) with a video of another class chosen by a
seeded draw; the target comes first in even pairs and second in odd ones. Each half is its clip's
every other frame, so the joined clip has the model's ``T`` frames
([`join_clips`][videoattr.metrics.join_clips]). Scores reuse
[`half_grounding`][videoattr.metrics.half_grounding] (1 when the half with more positive mass is the
target's, 0.5 on a tie, chance 0.5) and [`temporal_grounding`][videoattr.metrics.temporal_grounding]
(the frame with the most mass lies in the target's half).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from videoattr.datasets.annotated import AnnotatedClips
from videoattr.evaluation.scoring import Cell
from videoattr.metrics import (
    bootstrap,
    boxes_to_masks,
    class_average,
    half_grounding,
    join_clips,
    temporal_grounding,
)

__all__ = ["JoinedPairs", "PairScores", "oracle_pair", "score_pair", "summarise_pairs"]


class JoinedPairs(Dataset[tuple[Tensor, int, str]]):
    """Pairs of an annotated dataset's clips joined in time, as the dataset runner reads them.

    Item ``k`` is ``(clip (C, T, H, W), target class, id)``.

    Args:
        data: the annotated clips (at least two classes).
        seed: seed of the partners' draw. Default 0.

    Raises:
        ValueError: the clips have fewer than two frames or all videos share one class.
    """

    def __init__(self, data: AnnotatedClips, *, seed: int = 0) -> None:
        if data.clip_len < 2:
            raise ValueError(f"joined pairs need clips of at least 2 frames; got {data.clip_len}")
        if len(set(data.labels)) < 2:
            raise ValueError("joined pairs need videos of at least two classes")
        self.data = data
        g = torch.Generator().manual_seed(seed)
        self.pairs: list[tuple[int, int]] = []
        for k, label in enumerate(data.labels):
            others = [j for j, other in enumerate(data.labels) if other != label]
            partner = others[int(torch.randint(len(others), (1,), generator=g))]
            self.pairs.append((k, partner))
        self.ids = [f"pair{k:05d}-{data.ids[k]}"[:200] for k in range(len(self.pairs))]
        self.sources = [f"{data.sources[a]} + {data.sources[b]}" for a, b in self.pairs]
        self.labels = [data.labels[a] for a, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def target_half(self, k: int) -> int:
        """0 when pair ``k``'s target video is the first half, 1 when it is the second."""
        return k % 2

    def __getitem__(self, k: int) -> tuple[Tensor, int, str]:
        target, other = self.pairs[k]
        a = self.data[target][0][:, ::2]
        b = self.data[other][0][:, ::2]
        first, second = (a, b) if self.target_half(k) == 0 else (b, a)
        clip = join_clips(first.unsqueeze(0), second.unsqueeze(0))[0]
        return clip, self.labels[k], self.ids[k]

    def evidence(self, k: int) -> Tensor:
        """``(T,)`` bool: the frames of pair ``k``'s joined clip that come from the target video."""
        t = self.data.clip_len
        half = len(range(0, t, 2))
        ev = torch.zeros(2 * half, dtype=torch.bool)
        if self.target_half(k) == 0:
            ev[:half] = True
        else:
            ev[half:] = True
        return ev


@dataclass(frozen=True)
class PairScores:
    """One joined pair's scores: half grounding (1, 0.5 or 0) and whether the peak frame is the target's."""

    id: str
    label: int
    half: float
    peak_frame: float

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record."""
        return asdict(self)


def score_pair(maps: Tensor, evidence: Tensor, label: int, pair_id: str) -> PairScores:
    """Score ``(A, T, H, W)`` maps of a joined clip whose target frames are ``evidence`` ``(T,)``."""
    m = maps if maps.dim() == 5 else maps.unsqueeze(0)
    ev = evidence.view(1, -1).to(m.device)
    t = ev.shape[1]
    half = torch.tensor([0 if bool(ev[0, : t // 2].all()) else 1], device=m.device)
    h = float(half_grounding(m, half)[0])
    peak = float(temporal_grounding(m, ev)[0])
    return PairScores(pair_id, int(label), h if not math.isnan(h) else 0.5, peak)


def oracle_pair(pairs: JoinedPairs, k: int) -> PairScores:
    """The scores of the oracle map of pair ``k``: the target's boxes, in its half, as the map."""
    data = pairs.data
    target, _ = pairs.pairs[k]
    boxes = data.boxes(target)[::2]
    mask = boxes_to_masks(boxes.unsqueeze(0), data.geometry(target).size).float()  # (1, 1, t, H, W)
    empty = torch.zeros_like(mask)
    halves = (mask, empty) if pairs.target_half(k) == 0 else (empty, mask)
    maps = torch.cat(halves, dim=2)
    return score_pair(maps, pairs.evidence(k), pairs.labels[k], pairs.ids[k])


def summarise_pairs(
    scores: list[PairScores], num_classes: int, *, resamples: int = 1000, seed: int = 0
) -> Cell:
    """Half grounding averaged per target class, then over the classes, with its bootstrap error."""
    if not scores:
        return Cell(math.nan, math.nan, 0)
    values = torch.tensor([s.half for s in scores], dtype=torch.float64)
    ones = torch.ones_like(values)
    labels = torch.tensor([s.label for s in scores], dtype=torch.long)

    def stat(idx: Tensor) -> float:
        return class_average(values[idx], ones[idx], labels[idx], num_classes)

    reps = bootstrap(stat, len(scores), resamples=resamples, seed=seed)
    se = float(reps.std()) if len(scores) > 1 else math.nan
    return Cell(stat(torch.arange(len(scores))), se, len(scores))
