"""Boxes that follow the frames through a model's preprocessing.

Every annotated dataset of `videoattr.datasets` gives boxes in the pixel
coordinates of its video frames. A model sees those frames resized and centre cropped
([`to_clip`][videoattr.io.to_clip], stored per model as a [`Preprocessing`][videoattr.zoo.Preprocessing]),
so the boxes go through the same steps: [`ClipGeometry`][videoattr.datasets.boxes.ClipGeometry]
computes the resize and crop exactly as the preprocessing does (with
`videoattr.io.frames.resized_size` and `videoattr.io.frames.crop_box`,
the functions it calls) and moves boxes along.

**Coordinates.** A box is ``(x0, y0, x1, y1)`` in continuous pixel coordinates: pixel ``(row, col)``
covers ``[col, col + 1) x [row, row + 1)``, so a box covering columns 3 to 7 inclusive is
``x0 = 3, x1 = 8``. This is the convention of
[`boxes_to_masks`][videoattr.metrics.boxes_to_masks]. A bilinear resize with
``align_corners=False`` maps a coordinate ``x`` to ``x * W' / W``; the crop subtracts its offset.
A box that the crop cuts is clipped to the clip; one that lies wholly outside the clip becomes NaN
(no box in that frame).

Example:
    >>> g = ClipGeometry.of((240, 320), resize=(128, 171), crop=(112, 112))
    >>> g.transform(torch.tensor([[0.0, 0.0, 320.0, 240.0]])).tolist()  # the whole frame
    [[0.0, 0.0, 112.0, 112.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from videoattr.core.validation import describe
from videoattr.io.frames import Size, crop_box, resized_size

__all__ = [
    "EDGE_RULE",
    "EDGE_TOLERANCE",
    "EDGE_TOLERANCE_PIXELS",
    "ClipGeometry",
    "box_problem",
    "check_preprocessing",
    "clip_to_frame",
    "edge_slack",
    "pad_boxes",
]

#: How far past its frame's edge a source box may reach and still be clipped to the frame (and
#: counted) rather than refused: this fraction of the frame's side, ...
EDGE_TOLERANCE = 0.02
#: ... and never less than this many pixels. Annotators' boxes often touch or pass the edge by a
#: pixel or two (an inclusive corner ``x2 == W`` is ``x1 = W + 1`` in continuous coordinates).
EDGE_TOLERANCE_PIXELS = 2.0
#: The rule in words, for reports.
EDGE_RULE = (
    f"the larger of {EDGE_TOLERANCE_PIXELS:g} pixels and {EDGE_TOLERANCE:.0%} of the frame's side"
)


@dataclass(frozen=True)
class ClipGeometry:
    """Where the pixels of a source frame end up in the model's clip.

    Attributes:
        source: the video frames' ``(H, W)``.
        resized: ``(H', W')`` after the resize (``source`` when there is none).
        crop: ``(top, left, height, width)`` of the centre crop in the resized frames.
    """

    source: tuple[int, int]
    resized: tuple[int, int]
    crop: tuple[int, int, int, int]

    @classmethod
    def of(
        cls,
        source: tuple[int, int],
        *,
        resize: Size | Sequence[int] | None = None,
        crop: Size | Sequence[int] | None = None,
    ) -> ClipGeometry:
        """The geometry of [`to_clip`][videoattr.io.to_clip]``(frames, size=resize, crop=crop)``.

        Args:
            source: ``(H, W)`` of the video frames.
            resize: as ``to_clip``'s ``size``: an int or ``(s,)`` for the short side, or ``(h, w)``;
                ``None`` for no resize.
            crop: as ``to_clip``'s ``crop``; ``None`` for no crop.
        """
        h, w = int(source[0]), int(source[1])
        if h < 1 or w < 1:
            raise ValueError(f"source must be a frame size (H, W) >= 1; got {source!r}")
        rh, rw = (h, w) if resize is None else resized_size(h, w, resize)
        box = (0, 0, rh, rw) if crop is None else crop_box(rh, rw, crop)
        return cls((h, w), (rh, rw), box)

    @classmethod
    def of_preprocessing(cls, source: tuple[int, int], preprocessing: object) -> ClipGeometry:
        """The geometry of a model's preprocessing (an object with ``resize`` and ``crop``).

        Raises:
            TypeError: ``preprocessing`` does not say how it resizes and crops (a
                [`Preprocessing`][videoattr.zoo.Preprocessing] does).
        """
        check_preprocessing(preprocessing)
        return cls.of(
            source,
            resize=getattr(preprocessing, "resize"),  # noqa: B009
            crop=getattr(preprocessing, "crop"),  # noqa: B009
        )

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the clip's frames."""
        return self.crop[2], self.crop[3]

    def transform(self, boxes: Tensor) -> Tensor:
        """Boxes ``(..., 4)`` in source pixels to clip pixels (NaN stays NaN).

        Returns:
            float32 ``(..., 4)`` clipped to the clip's frame; a box with nothing inside the clip is
            all NaN.
        """
        if not isinstance(boxes, Tensor) or boxes.shape[-1:] != (4,):
            raise ValueError(
                f"boxes must be a (..., 4) tensor of (x0, y0, x1, y1); got {describe(boxes)}"
            )
        b = boxes.to(torch.float64)
        (h, w), (rh, rw) = self.source, self.resized
        top, left, ch, cw = self.crop
        sx, sy = rw / w, rh / h
        x0 = (b[..., 0] * sx - left).clamp(0, cw)
        x1 = (b[..., 2] * sx - left).clamp(0, cw)
        y0 = (b[..., 1] * sy - top).clamp(0, ch)
        y1 = (b[..., 3] * sy - top).clamp(0, ch)
        out = torch.stack([x0, y0, x1, y1], dim=-1)
        empty = ((x1 <= x0) | (y1 <= y0)).unsqueeze(-1)
        return torch.where(empty, torch.full_like(out, math.nan), out).float()


def check_preprocessing(preprocessing: object) -> None:
    """Raise ``TypeError`` unless ``preprocessing`` says how it resizes and crops (``resize``, ``crop``)."""
    if not hasattr(preprocessing, "resize") or not hasattr(preprocessing, "crop"):
        raise TypeError(
            "boxes can follow only a preprocessing that says how it resizes and crops "
            f"(videoattr.zoo.Preprocessing has resize and crop); got {describe(preprocessing)}"
        )


def box_problem(box: Sequence[float], size: tuple[int, int]) -> str | None:
    """Why a source box ``(x0, y0, x1, y1)`` is not a box of a ``(H, W)`` frame, else ``None``.

    A box must be finite, have ``x0 < x1`` and ``y0 < y1``, and lie inside ``[0, W] x [0, H]``
    (one that passes the edge by at most `edge_slack` is clipped first, see
    [`clip_to_frame`][videoattr.datasets.boxes.clip_to_frame]).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    h, w = size
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return f"box {_fmt(box)} is not finite"
    if not (x0 < x1 and y0 < y1):
        return f"box {_fmt(box)} is empty (needs x0 < x1 and y0 < y1)"
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return f"box {_fmt(box)} lies outside its {w} x {h} frame"
    return None


def edge_slack(side: int) -> float:
    """How far (pixels) a box may pass the edge of a frame side of ``side`` pixels and be clipped.

    ``max(EDGE_TOLERANCE_PIXELS, EDGE_TOLERANCE * side)``: 6.4 pixels of a 320-pixel side, 2 of a
    64-pixel one.

    Example:
        >>> edge_slack(320), edge_slack(64)
        (6.4, 2.0)
    """
    return max(EDGE_TOLERANCE_PIXELS, EDGE_TOLERANCE * side)


def clip_to_frame(box: Sequence[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A source box clipped to its ``(H, W)`` frame when it passes the edge by at most `edge_slack`.

    A box inside the frame, not finite, or farther outside than the slack on any side comes back
    unchanged (so [`box_problem`][videoattr.datasets.boxes.box_problem] still refuses the last two).
    A caller that clips says so: compare the result with ``box`` to count the clipped boxes.

    Example:
        >>> clip_to_frame((300.0, 10.0, 321.0, 241.0), (240, 320))  # inclusive x2 = W, y2 = H
        (300.0, 10.0, 320.0, 240.0)
        >>> clip_to_frame((300.0, 10.0, 330.0, 50.0), (240, 320))  # 10 pixels past: unchanged
        (300.0, 10.0, 330.0, 50.0)
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    h, w = size
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return x0, y0, x1, y1
    sx, sy = edge_slack(w), edge_slack(h)
    if min(x0, x1) < -sx or max(x0, x1) > w + sx or min(y0, y1) < -sy or max(y0, y1) > h + sy:
        return x0, y0, x1, y1
    fw, fh = float(w), float(h)
    return (
        min(max(x0, 0.0), fw),
        min(max(y0, 0.0), fh),
        min(max(x1, 0.0), fw),
        min(max(y1, 0.0), fh),
    )


def _fmt(box: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in box) + ")"


def pad_boxes(per_frame: Sequence[Sequence[Sequence[float]]]) -> Tensor:
    """Per-frame lists of boxes as one ``(T, N, 4)`` float32 tensor, NaN where a frame has fewer.

    ``N`` is the most boxes of any frame (at least 1), so a frame without boxes is all NaN.
    """
    n = max([len(f) for f in per_frame] + [1])
    out = torch.full((len(per_frame), n, 4), math.nan)
    for t, frame in enumerate(per_frame):
        for k, box in enumerate(frame):
            out[t, k] = torch.tensor([float(v) for v in box])
    return out
