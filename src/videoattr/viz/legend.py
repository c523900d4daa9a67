"""The colour bar under every picture: the colormap's gradient, what its ends stand for, and how
values were mapped to colours. One drawing for sheets and videos alike.

Layout (``label`` = the width of the left margin)::

    colour   [======== gradient ========]   signed, centred on 0: blue < 0 < red
             -7.1e-05       0      +7.1e-05

The note goes right of the gradient when it fits, else on a line of its own under the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from videoattr.viz.colormaps import apply_colormap
from videoattr.viz.style import OverlayStyle
from videoattr.viz.text import Font, line_height, text_size

__all__ = ["COLORBAR_HEIGHT", "Legend", "render_legend"]

#: Height in pixels of the gradient.
COLORBAR_HEIGHT = 14
_GAP = 4
_TEXT = (0, 0, 0)


@dataclass(frozen=True)
class Legend:
    """A rendered colour bar.

    Attributes:
        image: uint8 ``(h, w, 3)`` on a white background.
        bar: ``(top, left, height, width)`` of the gradient inside ``image``.
        ticks: the texts under the low end, the middle and the high end.
        note: how values were mapped to colours (see
            [`OverlayStyle.scale_note`][videoattr.viz.style.OverlayStyle.scale_note]).
    """

    image: Tensor
    bar: tuple[int, int, int, int]
    ticks: tuple[str, str, str]
    note: str


def render_legend(
    style: OverlayStyle,
    maps: Tensor | None,
    *,
    width: int,
    label_width: int,
    fnt: Font,
    bar_width: int = 384,
    label: str = "colour",
) -> Legend:
    """Draw the colour bar of ``style`` (already [`resolve`][videoattr.viz.style.OverlayStyle.resolve]d).

    Args:
        style: the style the maps were drawn with.
        maps: the maps drawn, for the numbers at the ends (see
            [`tick_labels`][videoattr.viz.style.OverlayStyle.tick_labels]); ``None`` for words.
        width: width of the strip in pixels.
        label_width: where the gradient starts (the pictures' left margin).
        fnt: the font.
        bar_width: the widest gradient; default 384. It shrinks to fit ``width`` but stays wide
            enough for its numbers (and at least 96 pixels); the strip is then wider than
            ``width``.
        label: the word written left of the gradient; default ``"colour"``.

    Returns:
        The [`Legend`][videoattr.viz.legend.Legend].
    """
    step = line_height(fnt)
    ticks = style.tick_labels(maps)
    note = style.scale_note()
    ticks_w = sum(text_size(t, fnt)[0] for t in ticks) + 4 * _GAP  # the numbers never overlap
    bar_w = max(min(bar_width, width - label_width - _GAP), 96, ticks_w)
    note_w = text_size(note, fnt)[0]
    beside = label_width + bar_w + 2 * _GAP + note_w <= width
    height = 2 + COLORBAR_HEIGHT + 2 + step + (0 if beside else step) + _GAP
    width = max(width, label_width + bar_w + _GAP, 0 if beside else label_width + note_w + _GAP)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    top = 2
    ramp = apply_colormap(torch.linspace(0.0, 1.0, bar_w), style.colormap)
    canvas[top : top + COLORBAR_HEIGHT, label_width : label_width + bar_w] = (
        (ramp * 255.0).round().to(torch.uint8).numpy()[None]
    )
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    draw.text((_GAP, top), label, fill=_TEXT, font=fnt)
    lo, mid, hi = ticks
    y = top + COLORBAR_HEIGHT + 2
    draw.text((label_width, y), lo, fill=_TEXT, font=fnt)
    if mid:
        x = label_width + (bar_w - text_size(mid, fnt)[0]) // 2
        draw.text((x, y), mid, fill=_TEXT, font=fnt)
    draw.text((label_width + bar_w - text_size(hi, fnt)[0], y), hi, fill=_TEXT, font=fnt)
    if beside:
        draw.text((label_width + bar_w + 2 * _GAP, top), note, fill=_TEXT, font=fnt)
    else:
        draw.text((label_width, y + step), note, fill=_TEXT, font=fnt)
    return Legend(
        image=torch.from_numpy(np.array(image)),
        bar=(top, label_width, COLORBAR_HEIGHT, bar_w),
        ticks=ticks,
        note=note,
    )
