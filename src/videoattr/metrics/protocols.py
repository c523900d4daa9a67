"""The pointing game on boxes, correct or as the reference implementation scores it.

Two protocols score a map's peak against the annotated boxes of each frame:

* ``"correct"`` (default): [`pointing_game`][videoattr.metrics.pointing.pointing_game] on the mask
  of the boxes ([`boxes_to_masks`][videoattr.metrics.pointing.boxes_to_masks]): the peak
  ``(row, col)`` hits when the pixel lies within ``tolerance`` pixels (a disc) of a box; frames
  without a box do not count; the hit rate is averaged over the classes that have scored frames.
* ``"reference"``: the evaluation code published with Li et al. (WACV 2021), quirk for quirk, so
  that a number can be put beside the paper's. There:

  1. the peak is taken as ``(row, col)`` (the first maximum in row-major order) and passed where
     ``(x, y)`` is expected, so the **row is tested against the box's x-range** and the column
     against its y-range: the region counted as a hit is the box mirrored about the diagonal;
  2. the tolerance **grows the box by the same amount on each side** (a square, its low sides
     clipped at 0), where a distance of ``tolerance`` pixels is a disc;
  3. a frame without a box carries the box ``(0, 0, 0, 0)`` and the test meant to skip it compares a
     list with a tuple, which is always unequal, so **frames without a box are scored**: a hit
     only when the peak falls in the ``tolerance x tolerance`` corner at the origin;
  4. the class average is over **all** classes, a class without scored frames counting 0.

  Boxes are made integers as that code makes them: ``floor`` of the low corner, ``ceil`` of the
  high corner clipped to the last pixel.

For each protocol, [`hit_regions`][videoattr.metrics.protocols.hit_regions] gives the set of peak
positions that count as a hit, so the score of a uniformly random peak (the chance level) is the
region's share of the frame ([`chance_hits`][videoattr.metrics.protocols.chance_hits]).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from videoattr.core.validation import check_choice, describe
from videoattr.metrics._common import check_maps
from videoattr.metrics.pointing import (
    PointingResult,
    _ranking_map,
    boxes_to_masks,
    default_tolerance,
    dilate,
    pointing_game,
)

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "chance_hits",
    "class_average",
    "hit_regions",
    "pointing_on_boxes",
    "reference_peaks",
]

Protocol = Literal["correct", "reference"]
PROTOCOLS: tuple[str, ...] = ("correct", "reference")


def _check_boxes(boxes: object, b: int | None = None, t: int | None = None) -> Tensor:
    if not isinstance(boxes, Tensor) or boxes.dim() not in (3, 4) or boxes.shape[-1] != 4:
        raise ValueError(
            f"boxes must be a (B, T, 4) or (B, T, N, 4) tensor of (x0, y0, x1, y1); got {describe(boxes)}"
        )
    boxes = boxes.unsqueeze(2) if boxes.dim() == 3 else boxes
    if (b is not None and boxes.shape[0] != b) or (t is not None and boxes.shape[1] != t):
        raise ValueError(
            f"boxes of shape {tuple(boxes.shape)} do not match maps with B = {b}, T = {t}"
        )
    return boxes.float()


def _tolerance(tolerance: float | None, h: int, w: int) -> float:
    tol = default_tolerance(h, w) if tolerance is None else float(tolerance)
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tolerance must be >= 0 pixels; got {tolerance}")
    return tol


def hit_regions(
    boxes: Tensor,
    size: tuple[int, int],
    *,
    protocol: Protocol = "correct",
    tolerance: float | None = None,
) -> Tensor:
    """Where a peak ``(row, col)`` counts as a hit, frame by frame.

    Args:
        boxes: ``(B, T, 4)`` or ``(B, T, N, 4)`` boxes ``(x0, y0, x1, y1)`` in the frame's pixels,
            NaN where a frame (or slot) has no box.
        size: ``(H, W)`` of the frames.
        protocol: ``"correct"`` or ``"reference"`` (see the module docs).
        tolerance: pixels; ``None`` (default) is 7 px at 112 x 112 scaled to ``(H, W)``.

    Returns:
        ``(B, T, H, W)`` bool: ``region[b, t, row, col]`` says whether a peak there is a hit. Under
        ``"correct"`` a frame without a box has an empty region (and is not scored).
    """
    check_choice(protocol, "protocol", PROTOCOLS)
    boxes = _check_boxes(boxes)
    h, w = size
    tol = _tolerance(tolerance, h, w)
    bsz, t = boxes.shape[:2]
    if protocol == "correct":
        mask = boxes_to_masks(boxes, size)[:, 0]
        return dilate(mask.reshape(bsz * t, h, w), tol).view(bsz, t, h, w)
    present = ~boxes.isnan().any(-1)  # (B, T, N)
    frame_has_box = present.any(-1, keepdim=True)
    # the integer boxes of the reference code; a frame without a box gets (0, 0, 0, 0)
    x0 = torch.floor(boxes[..., 0])
    y0 = torch.floor(boxes[..., 1])
    x1 = torch.minimum(torch.ceil(boxes[..., 2]), torch.tensor(w - 1.0))
    y1 = torch.minimum(torch.ceil(boxes[..., 3]), torch.tensor(h - 1.0))
    ints = torch.stack([x0, y0, x1, y1], dim=-1)
    zero = torch.zeros_like(ints)
    slot0 = torch.zeros_like(present)
    slot0[..., 0] = True
    use = torch.where(frame_has_box, present, slot0)  # the (0, 0, 0, 0) box in slot 0
    ints = torch.where(frame_has_box.unsqueeze(-1), ints, zero)
    gx0 = (ints[..., 0] - tol).clamp_min(0)  # grown by the same amount on each side
    gy0 = (ints[..., 1] - tol).clamp_min(0)
    gx1 = ints[..., 2] + tol
    gy1 = ints[..., 3] + tol
    rows = torch.arange(h, dtype=torch.float32, device=boxes.device).view(1, 1, 1, h, 1)
    cols = torch.arange(w, dtype=torch.float32, device=boxes.device).view(1, 1, 1, 1, w)

    def e(v: Tensor) -> Tensor:
        return v.view(*v.shape, 1, 1)

    # the row is tested against the x-range, the column against the y-range
    inside = (rows >= e(gx0)) & (rows <= e(gx1)) & (cols >= e(gy0)) & (cols <= e(gy1))
    return (inside & e(use)).any(dim=2)


def reference_peaks(maps: Tensor, *, smooth: float = 0.0) -> Tensor:
    """Per-frame peaks as the reference code finds them: the first maximum in row-major order.

    Args:
        maps: ``(B, 1|A, T, H, W)`` (channels summed).
        smooth: per-frame Gaussian smoothing (std in px) first. Default 0.

    Returns:
        ``(B, T, 2)`` long ``(row, col)``.
    """
    m = _ranking_map(check_maps(maps), smooth)
    b, t, h, w = m.shape
    flat = m.reshape(b, t, h * w)
    top = flat.max(dim=-1, keepdim=True).values
    idx = (flat == top).int().argmax(dim=-1)  # first position of the maximum
    return torch.stack([idx // w, idx % w], dim=-1)


def pointing_on_boxes(
    maps: Tensor,
    boxes: Tensor,
    *,
    protocol: Protocol = "correct",
    tolerance: float | None = None,
    smooth: float = 0.0,
) -> PointingResult:
    """Per-frame pointing game of ``(B, 1|A, T, H, W)`` maps against ``(B, T[, N], 4)`` boxes.

    ``"correct"`` is [`pointing_game`][videoattr.metrics.pointing.pointing_game] on the boxes' mask
    (peaks with ties broken towards the plateau's centroid, frames without a box not valid);
    ``"reference"`` scores every frame with the reference code's peak and hit region (see the module
    docs).

    Returns:
        A [`PointingResult`][videoattr.metrics.pointing.PointingResult] with ``(B, T)`` hits and valid.
    """
    check_choice(protocol, "protocol", PROTOCOLS)
    maps = check_maps(maps)
    b, _, t, h, w = maps.shape
    boxes = _check_boxes(boxes, b, t).to(maps.device)
    if protocol == "correct":
        gt = boxes_to_masks(boxes, (h, w))
        return pointing_game(maps, gt, per="frame", tolerance=tolerance, smooth=smooth)
    region = hit_regions(boxes, (h, w), protocol="reference", tolerance=tolerance)
    peaks = reference_peaks(maps, smooth=smooth)
    bi = torch.arange(b, device=maps.device).view(b, 1).expand(b, t)
    ti = torch.arange(t, device=maps.device).view(1, t).expand(b, t)
    hits = region[bi, ti, peaks[..., 0], peaks[..., 1]]
    return PointingResult(hits=hits, valid=torch.ones_like(hits))


def chance_hits(
    boxes: Tensor,
    size: tuple[int, int],
    *,
    protocol: Protocol = "correct",
    tolerance: float | None = None,
) -> tuple[Tensor, Tensor]:
    """The expected hits of a peak drawn uniformly over each frame: the random floor.

    Returns:
        ``(expected, valid)``, both ``(B, T)``: the share of the frame's pixels that are a hit, and
        whether the frame is scored (as in
        [`pointing_on_boxes`][videoattr.metrics.protocols.pointing_on_boxes]).
    """
    region = hit_regions(boxes, size, protocol=protocol, tolerance=tolerance)
    expected = region.flatten(2).float().mean(-1)
    if protocol == "reference":
        return expected, torch.ones_like(expected, dtype=torch.bool)
    return expected, ~_check_boxes(boxes).isnan().any(-1).all(-1)


def class_average(
    hits: Tensor,
    totals: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    protocol: Protocol = "correct",
) -> float:
    """The class-averaged hit rate from per-video counts.

    Args:
        hits: ``(V,)`` hits (or expected hits) of each video.
        totals: ``(V,)`` scored frames of each video.
        labels: ``(V,)`` class of each video.
        num_classes: ``K``.
        protocol: ``"correct"``: the mean over the classes with scored frames of ``sum hits / sum
            totals`` (as [`PointingGame`][videoattr.metrics.pointing.PointingGame]); ``"reference"``:
            the mean over all ``K`` classes of ``sum hits / max(sum totals, 1)``.

    Returns:
        The score (NaN when no class has scored frames under ``"correct"``).
    """
    check_choice(protocol, "protocol", PROTOCOLS)
    labels = labels.long()
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]; got {labels.tolist()}")
    h = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, labels, hits.double())
    n = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, labels, totals.double())
    if protocol == "reference":
        return float((h / n.clamp_min(1)).mean())
    seen = n > 0
    return float((h[seen] / n[seen]).mean()) if bool(seen.any()) else math.nan
