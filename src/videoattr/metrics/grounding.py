"""Temporal grounding: does the attribution point at the frames that hold the evidence?

Three forms:

* [`temporal_grounding`][videoattr.metrics.grounding.temporal_grounding]: the frame holding the most attribution (sum of positive values per frame;
  masks at several areas are summed over areas) must be one of the evidence frames. Ties between frames
  (equal sums, e.g. a mask that is flat over time) go to the tied frame closest to the centre of the tied
  frames.
* [`half_grounding`][videoattr.metrics.grounding.half_grounding]: the published variant joins two clips into one ([`join_clips`][videoattr.metrics.grounding.join_clips]), only one of
  which holds the evidence, and asks which half the map points at (the half with more positive mass);
  equal halves count as half a hit.
* [`evidence_frame_share`][videoattr.metrics.grounding.evidence_frame_share]: the share of the attribution mass that lies in the evidence frames
  (a graded form of the two above; a random map scores the share of evidence frames).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from videoattr.core.ops import apply_polarity
from videoattr.core.validation import check_choice, check_clip, describe
from videoattr.metrics._common import check_maps, combine_channels, pick_peak_nd

__all__ = [
    "evidence_frame_share",
    "frame_mass",
    "half_grounding",
    "join_clips",
    "temporal_grounding",
]


def frame_mass(maps: Tensor, polarity: Literal["positive", "absolute"] = "positive") -> Tensor:
    """Attribution mass of every frame: ``(B, 1|A, T, H, W)`` -> ``(B, T)`` (channels summed)."""
    maps = check_maps(maps)
    check_choice(polarity, "polarity", ("positive", "absolute"))
    return apply_polarity(combine_channels(maps), polarity)[:, 0].flatten(2).sum(2)


def _evidence_frames(evidence: Tensor, b: int, t: int, device: torch.device) -> Tensor:
    if not isinstance(evidence, Tensor):
        raise TypeError(
            f"evidence must be a (B, T) bool tensor or a (B, 1, T, H, W) mask; got {describe(evidence)}"
        )
    if evidence.dim() == 5:
        evidence = evidence.flatten(3).any(3)[:, 0] if evidence.shape[1] == 1 else evidence
    if evidence.dim() != 2 or tuple(evidence.shape) != (b, t):
        raise ValueError(
            f"evidence must be a ({b}, {t}) bool tensor of evidence frames or a ({b}, 1, {t}, H, W) mask; "
            f"got shape {tuple(evidence.shape)}"
        )
    return (evidence != 0).to(device)


def temporal_grounding(
    maps: Tensor, evidence: Tensor, *, polarity: Literal["positive", "absolute"] = "positive"
) -> Tensor:
    """Whether each clip's frame with the most attribution is an evidence frame.

    Args:
        maps: ``(B, 1|A, T, H, W)`` maps or masks.
        evidence: ``(B, T)`` bool evidence frames, or a ``(B, 1, T, H, W)`` ground-truth mask (a frame is
            an evidence frame when its mask is not empty).
        polarity: ``"positive"`` (default) or ``"absolute"`` mass per frame.

    Returns:
        ``(B,)`` bool hits. Chance level for a random map is the share of evidence frames.
    """
    mass = frame_mass(maps, polarity)
    b, t = mass.shape
    ev = _evidence_frames(evidence, b, t, mass.device)
    best = pick_peak_nd(mass.unsqueeze(1), (t,))
    return ev[torch.arange(b, device=mass.device), best]


def evidence_frame_share(
    maps: Tensor, evidence: Tensor, *, polarity: Literal["positive", "absolute"] = "positive"
) -> Tensor:
    """Share of each clip's attribution mass that lies in its evidence frames.

    ``share = sum_{t in E} m_t / sum_t m_t`` with ``m_t`` the positive (or absolute) mass of frame ``t``
    (see [`frame_mass`][videoattr.metrics.grounding.frame_mass]) and ``E`` the evidence frames. A map
    spread evenly over time scores ``|E| / T``; a map entirely in the evidence frames scores 1.

    Args:
        maps: ``(B, 1|A, T, H, W)`` maps or masks.
        evidence: ``(B, T)`` bool evidence frames, or a ``(B, 1, T, H, W)`` ground-truth mask.
        polarity: ``"positive"`` (default) or ``"absolute"`` mass per frame.

    Returns:
        ``(B,)`` float shares in ``[0, 1]``; NaN for a clip whose map has no mass at all.

    Example:
        >>> maps = torch.zeros(1, 1, 4, 2, 2)
        >>> maps[0, 0, :2] = 1.0
        >>> evidence_frame_share(maps, torch.tensor([[True, False, False, False]])).tolist()
        [0.5]
    """
    mass = frame_mass(maps, polarity).double()
    b, t = mass.shape
    ev = _evidence_frames(evidence, b, t, mass.device)
    total = mass.sum(1)
    inside = (mass * ev).sum(1)
    share = inside / total.where(total > 0, torch.ones_like(total))
    return share.where(total > 0, torch.full_like(share, float("nan"))).float()


def half_grounding(
    maps: Tensor, evidence_half: Tensor, *, polarity: Literal["positive", "absolute"] = "positive"
) -> Tensor:
    """Score of pointing at the right half of joined clips.

    Args:
        maps: ``(B, 1|A, T, H, W)`` maps of joined clips (the first ``T // 2`` frames are the first half).
        evidence_half: ``(B,)`` ints, 0 when the evidence is in the first half, 1 in the second.
        polarity: ``"positive"`` (default) or ``"absolute"`` mass.

    Returns:
        ``(B,)`` float: 1 when the half with more mass holds the evidence, 0.5 on a tie, else 0.
    """
    mass = frame_mass(maps, polarity)
    b, t = mass.shape
    if t < 2:
        raise ValueError(f"half_grounding needs at least 2 frames; got T = {t}")
    if not isinstance(evidence_half, Tensor) or evidence_half.shape != (b,):
        raise ValueError(
            f"evidence_half must be a ({b},) tensor of 0/1; got {describe(evidence_half)}"
        )
    if bool(((evidence_half != 0) & (evidence_half != 1)).any()):
        raise ValueError("evidence_half must hold only 0 (first half) and 1 (second half)")
    first, second = mass[:, : t // 2].sum(1), mass[:, t // 2 :].sum(1)
    ev = evidence_half.to(mass.device).bool()
    right = torch.where(ev, second > first, first > second).float()
    return torch.where(first == second, torch.full_like(right, 0.5), right)


def join_clips(first: Tensor, second: Tensor) -> Tensor:
    """Concatenate two clip batches in time: ``(B, C, T1, H, W)`` and ``(B, C, T2, H, W)`` -> ``T1 + T2``."""
    first, second = check_clip(first, "first"), check_clip(second, "second")
    if first.shape[:2] != second.shape[:2] or first.shape[3:] != second.shape[3:]:
        raise ValueError(
            f"first and second must share B, C, H and W; got shapes {tuple(first.shape)} and {tuple(second.shape)}"
        )
    return torch.cat([first, second.to(first.device)], dim=2)
