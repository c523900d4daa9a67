"""Localisation against spatio-temporal ground truth: pointing game, mass inside, IoU of the top voxels.

Ground truth is a ``(B, 1, T, H, W)`` bool mask (``(B, T, H, W)`` is accepted too); boxes become masks
with [`boxes_to_masks`][videoattr.metrics.pointing.boxes_to_masks]. Frames whose ground truth is empty (the evidence is absent) do not count in
per-frame scores.

**Peaks and ties.** The peak of a map is its largest value after summing the ``A`` channels (for masks at
several areas, voxels kept at the smallest area rank highest) and an optional Gaussian smoothing of
``smooth`` pixels per frame. A perturbation mask still has flat plateaus: among the tied maxima the one
closest to the centroid of all tied points wins (a point of the plateau, deterministic).

**Published protocol.** The pointing game of the video attribution literature counts a frame as a hit when
its peak lies within 7 pixels of the ground truth at 112 x 112 and averages the hit rate over classes; the
default ``tolerance=None`` scales those 7 pixels to the frame size, and [`PointingGame`][videoattr.metrics.pointing.PointingGame] averages over
classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from videoattr.core.ops import apply_polarity, gaussian_blur_frames
from videoattr.core.validation import check_choice, describe
from videoattr.metrics._common import (
    check_fraction,
    check_ground_truth,
    check_maps,
    combine_channels,
    pick_peak_nd,
)

Per = Literal["frame", "clip"]

__all__ = [
    "PointingGame",
    "PointingResult",
    "boxes_to_masks",
    "dilate",
    "mass_in_ground_truth",
    "peak_locations",
    "pointing_game",
    "top_fraction_mask",
    "topk_iou",
]


def boxes_to_masks(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Turn spatio-temporal boxes into a ground-truth mask.

    Args:
        boxes: ``(B, T, 4)`` boxes ``(x0, y0, x1, y1)`` in pixels per frame, or ``(B, T, N, 4)`` with
            up to ``N`` boxes per frame (the mask is their union); pixel ``(y, x)`` is inside when
            ``x0 <= x + 0.5 <= x1`` and ``y0 <= y + 0.5 <= y1`` (its centre lies in the box). A frame
            (or a slot of a frame) without a box holds NaNs (or any box with ``x1 < x0``).
        size: the frame size ``(H, W)``.

    Returns:
        ``(B, 1, T, H, W)`` bool mask on ``boxes``' device.
    """
    if not isinstance(boxes, Tensor) or boxes.dim() not in (3, 4) or boxes.shape[-1] != 4:
        raise ValueError(
            "boxes must be a (B, T, 4) or (B, T, N, 4) tensor of (x0, y0, x1, y1); got "
            f"{describe(boxes)}"
        )
    if boxes.dim() == 3:
        boxes = boxes.unsqueeze(2)
    h, w = size
    boxes = boxes.float()
    ys = torch.arange(h, device=boxes.device, dtype=torch.float32).view(1, 1, 1, h, 1) + 0.5
    xs = torch.arange(w, device=boxes.device, dtype=torch.float32).view(1, 1, 1, 1, w) + 0.5
    x0, y0, x1, y1 = (boxes[..., i].unsqueeze(-1).unsqueeze(-1) for i in range(4))
    inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    return inside.any(dim=2).unsqueeze(1)


def default_tolerance(h: int, w: int) -> float:
    """The published pointing tolerance, 7 px at 112 x 112, scaled to ``(H, W)``."""
    return 7.0 * min(h, w) / 112.0


def dilate(mask: Tensor, radius: float) -> Tensor:
    """Dilate ``(N, H, W)`` bool masks by a disc: pixels whose centre is within ``radius`` px of the mask."""
    if radius <= 0:
        return mask
    r = math.floor(radius)
    offsets = torch.arange(-r, r + 1, device=mask.device, dtype=torch.float32)
    disc = ((offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2) <= radius**2 + 1e-6).float()
    out = F.conv2d(mask.float().unsqueeze(1), disc.view(1, 1, 2 * r + 1, 2 * r + 1), padding=r)
    return out[:, 0] > 0.5


def _ranking_map(maps: Tensor, smooth: float) -> Tensor:
    """``(B, T, H, W)`` map whose maxima are the peaks: channels summed, optionally smoothed."""
    m = combine_channels(maps)
    if smooth > 0:
        m = gaussian_blur_frames(m, smooth)
    return m[:, 0]


def peak_locations(maps: Tensor, *, per: Per = "frame", smooth: float = 0.0) -> Tensor:
    """Peaks of ``(B, 1|A, T, H, W)`` maps, ties broken towards the centroid of the tied points.

    Args:
        maps: attribution maps or masks.
        per: ``"frame"`` for one peak per frame, ``"clip"`` for one peak per clip.
        smooth: std in pixels of a per-frame Gaussian smoothing before taking the peak. Default 0.

    Returns:
        ``(B, T, 2)`` long ``(y, x)`` per frame, or ``(B, 3)`` long ``(t, y, x)`` per clip.
    """
    maps = check_maps(maps)
    check_choice(per, "per", ("frame", "clip"))
    m = _ranking_map(maps, smooth)
    b, t, h, w = m.shape
    if per == "frame":
        idx = pick_peak_nd(m.reshape(b * t, 1, h * w), (h, w)).view(b, t)
        return torch.stack([idx // w, idx % w], dim=-1)
    idx = pick_peak_nd(m.reshape(b, 1, t * h * w), (t, h, w))
    return torch.stack([idx // (h * w), (idx // w) % h, idx % w], dim=-1)


@dataclass(frozen=True)
class PointingResult:
    """Pointing-game outcome.

    Attributes:
        hits: ``(B, T)`` bool per frame or ``(B,)`` bool per clip.
        valid: same shape; ``False`` where the ground truth is empty (the entry does not count).
    """

    hits: Tensor
    valid: Tensor

    @property
    def accuracy(self) -> float:
        """Hit rate over the valid entries (NaN when none is valid)."""
        n = int(self.valid.sum())
        return float((self.hits & self.valid).sum()) / n if n else float("nan")


def pointing_game(
    maps: Tensor,
    ground_truth: Tensor,
    *,
    per: Per = "frame",
    tolerance: float | None = None,
    smooth: float = 0.0,
) -> PointingResult:
    """Does the peak of the map lie on (or within ``tolerance`` px of) the ground truth?

    Args:
        maps: ``(B, 1|A, T, H, W)`` attribution maps or masks.
        ground_truth: ``(B, 1, T, H, W)`` bool mask.
        per: ``"frame"``: each frame's own peak is tested against that frame's ground truth (frames with
            empty ground truth are not valid). ``"clip"``: the peak of the whole clip is tested against the
            ground truth of the frame it lies in (a peak in a frame without evidence is a miss).
        tolerance: distance in pixels; ``None`` (default) is 7 px scaled from 112 x 112 to ``(H, W)``.
        smooth: per-frame Gaussian smoothing (std in px) before peak finding. Default 0.

    Returns:
        A [`PointingResult`][videoattr.metrics.pointing.PointingResult].
    """
    maps = check_maps(maps)
    gt = check_ground_truth(ground_truth, maps)
    check_choice(per, "per", ("frame", "clip"))
    b, _, t, h, w = maps.shape
    tol = default_tolerance(h, w) if tolerance is None else float(tolerance)
    if tol < 0:
        raise ValueError(f"tolerance must be >= 0 pixels; got {tol}")
    near = dilate(gt.reshape(b * t, h, w), tol).view(b, t, h, w)
    peaks = peak_locations(maps, per=per, smooth=smooth)
    if per == "frame":
        bi = torch.arange(b, device=maps.device).view(b, 1).expand(b, t)
        ti = torch.arange(t, device=maps.device).view(1, t).expand(b, t)
        hits = near[bi, ti, peaks[..., 0], peaks[..., 1]]
        return PointingResult(hits=hits, valid=gt.flatten(2).any(dim=2))
    bi = torch.arange(b, device=maps.device)
    hits = near[bi, peaks[:, 0], peaks[:, 1], peaks[:, 2]]
    return PointingResult(hits=hits, valid=gt.flatten(1).any(dim=1))


@dataclass
class PointingGame:
    """Accumulates pointing-game hits per class and reports their mean over classes.

    Args:
        num_classes: number of classes ``K``.
        per: ``"frame"`` or ``"clip"`` (see [`pointing_game`][videoattr.metrics.pointing.pointing_game]).
        tolerance: pixels; ``None`` scales the published 7 px at 112 x 112.
        smooth: per-frame Gaussian smoothing before peak finding. Default 0.

    Example:
        >>> game = PointingGame(num_classes=4)
        >>> game.update(maps, masks, labels)  # as many batches as needed
        >>> game.score()  # mean over classes of the per-class hit rate
    """

    num_classes: int
    per: Per = "frame"
    tolerance: float | None = None
    smooth: float = 0.0
    hits: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or self.num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int; got {self.num_classes!r}")
        check_choice(self.per, "per", ("frame", "clip"))
        self.reset()

    def reset(self) -> None:
        """Forget every accumulated hit."""
        self.hits = [0] * self.num_classes
        self.totals = [0] * self.num_classes

    def update(self, maps: Tensor, ground_truth: Tensor, labels: Tensor) -> PointingResult:
        """Add a batch: ``maps`` ``(B, 1|A, T, H, W)``, ``ground_truth`` ``(B, 1, T, H, W)``, ``labels`` ``(B,)``."""
        result = pointing_game(
            maps, ground_truth, per=self.per, tolerance=self.tolerance, smooth=self.smooth
        )
        if not isinstance(labels, Tensor) or labels.shape != (maps.shape[0],):
            raise ValueError(
                f"labels must be a ({maps.shape[0]},) tensor of class indices; got {describe(labels)}"
            )
        hits = (
            (result.hits & result.valid).flatten(1).sum(1)
            if self.per == "frame"
            else result.hits & result.valid
        )
        valid = result.valid.flatten(1).sum(1) if self.per == "frame" else result.valid
        for label, h, v in zip(labels.tolist(), hits.tolist(), valid.tolist(), strict=True):
            if not 0 <= label < self.num_classes:
                raise ValueError(f"labels must lie in [0, {self.num_classes - 1}]; got {label}")
            self.hits[label] += int(h)
            self.totals[label] += int(v)
        return result

    def per_class(self) -> list[float]:
        """Hit rate of each class (NaN for a class without valid entries)."""
        return [h / n if n else float("nan") for h, n in zip(self.hits, self.totals, strict=True)]

    def score(self) -> float:
        """Mean hit rate over the classes seen so far (NaN if none)."""
        rates = [r for r in self.per_class() if not math.isnan(r)]
        return sum(rates) / len(rates) if rates else float("nan")


def mass_in_ground_truth(
    maps: Tensor,
    ground_truth: Tensor,
    *,
    per: Per = "clip",
    polarity: Literal["positive", "absolute"] = "positive",
) -> Tensor:
    """Share of the attribution mass that falls inside the ground truth.

    Args:
        maps: ``(B, 1|A, T, H, W)`` maps (channels are summed).
        ground_truth: ``(B, 1, T, H, W)`` bool mask.
        per: ``"clip"`` gives ``(B,)``: mass inside over total mass of the clip; ``"frame"`` gives ``(B, T)``
            per frame (NaN for frames whose ground truth is empty).
        polarity: ``"positive"`` (default) counts only positive values, ``"absolute"`` their magnitude.

    Returns:
        Fractions in ``[0, 1]``; a map with no mass scores 0. A uniform map scores the ground truth's share
        of the voxels, the chance level.
    """
    maps = check_maps(maps)
    gt = check_ground_truth(ground_truth, maps)
    check_choice(per, "per", ("frame", "clip"))
    check_choice(polarity, "polarity", ("positive", "absolute"))
    m = apply_polarity(combine_channels(maps), polarity)[:, 0]
    inside = (m * gt).flatten(2).sum(2)
    total = m.flatten(2).sum(2)
    if per == "clip":
        inside, total = inside.sum(1), total.sum(1)
        return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))
    frac = torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))
    return torch.where(gt.flatten(2).any(2), frac, torch.full_like(frac, float("nan")))


def top_fraction_mask(maps: Tensor, fraction: float) -> Tensor:
    """The top ``fraction`` of voxels of each clip (``(B, 1|A, T, H, W)`` maps summed over channels).

    Exactly ``round(fraction * T * H * W)`` voxels (at least one) are selected per clip; ties are broken
    towards lower flat indices.

    Returns:
        ``(B, 1, T, H, W)`` bool.
    """
    maps = check_maps(maps)
    fraction = check_fraction(fraction, "fraction", closed=True)
    m = combine_channels(maps)
    flat = m.flatten(1)
    k = max(1, round(fraction * flat.shape[1]))
    idx = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :k]
    out = torch.zeros_like(flat, dtype=torch.bool)
    out.scatter_(1, idx, True)
    return out.view_as(m)


def topk_iou(maps: Tensor, reference: Tensor, fraction: float) -> Tensor:
    """IoU between the top ``fraction`` voxels of ``maps`` and a reference.

    Args:
        maps: ``(B, 1|A, T, H, W)`` maps.
        reference: a ``(B, 1, T, H, W)`` bool ground-truth mask (used as is), or another float map
            ``(B, 1|A, T, H, W)`` whose own top ``fraction`` is taken (agreement of two methods).
        fraction: share of the voxels kept, in ``(0, 1]``.

    Returns:
        ``(B,)`` IoU in ``[0, 1]``.
    """
    maps = check_maps(maps)
    top = top_fraction_mask(maps, fraction)[:, 0]
    if isinstance(reference, Tensor) and reference.dtype == torch.bool:
        ref = check_ground_truth(reference, maps, name="reference")
    else:
        ref_maps = check_maps(reference, name="reference")
        if ref_maps.shape[0] != maps.shape[0] or ref_maps.shape[2:] != maps.shape[2:]:
            raise ValueError(
                f"reference of shape {tuple(ref_maps.shape)} does not match maps of shape {tuple(maps.shape)}"
            )
        ref = top_fraction_mask(ref_maps.to(maps.device), fraction)[:, 0]
    inter = (top & ref).flatten(1).sum(1).float()
    union = (top | ref).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))
