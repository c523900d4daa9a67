"""The evaluation figure: the methods side by side, one group of bars per score column, with error bars.

Drawn with Pillow (no plotting library needed): each column of the table is a group, each row a bar
of its colour (the baselines hatched in grey), the whisker spanning ± one standard error, the scale
0 to 1 with grid lines every 0.2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageDraw

from videoattr.evaluation.scoring import COLUMNS, Cell
from videoattr.viz.text import font, line_height, text_size

__all__ = ["FigureRow", "FigureTable", "render_figure", "save_figure"]


class FigureRow(Protocol):
    """What the figure reads of a row (a [`Row`][videoattr.evaluation.report.Row])."""

    @property
    def method(self) -> str: ...

    @property
    def cells(self) -> Mapping[str, Cell]: ...

    @property
    def baseline(self) -> bool: ...


class FigureTable(Protocol):
    """What the figure reads of a table (a [`Table`][videoattr.evaluation.report.Table]): its rows,
    its score columns and its config (``dataset``, ``model``, ``num_videos`` for the title)."""

    @property
    def rows(self) -> Sequence[FigureRow]: ...

    @property
    def columns(self) -> Sequence[str]: ...

    @property
    def config(self) -> Mapping[str, Any]: ...


#: Bar colours of the methods (colour-blind safe, Okabe-Ito), then grey shades for the baselines.
METHOD_COLOURS = [
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167),
    (86, 180, 233), (213, 94, 0), (240, 228, 66), (0, 0, 0),
]  # fmt: skip
BASELINE_COLOURS = [(120, 120, 120), (190, 190, 190)]


def render_figure(
    table: FigureTable, *, bar_width: int = 26, plot_height: int = 260
) -> Image.Image:
    """The figure of ``table`` as a Pillow image (white background)."""
    fnt, small = font(15), font(13)
    lh = line_height(small)
    rows = table.rows
    n = max(len(rows), 1)
    widest = max([text_size(COLUMNS[c], small)[0] for c in table.columns] + [0])
    group_w = max(n * bar_width, widest) + 30
    left, top = 52, 16 + line_height(fnt) + 8
    width = left + len(table.columns) * group_w + 20
    legend_cols = max(1, (width - 40) // 190)
    legend_h = math.ceil(n / legend_cols) * lh + 10
    height = top + plot_height + 2 * lh + 12 + legend_h
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    title = f"{table.config.get('dataset')}: {table.config.get('model')}, {table.config.get('num_videos')} videos (± 1 s.e.)"
    d.text((left, 10), title, fill="black", font=fnt)

    def y_of(v: float) -> float:
        return top + (1.0 - min(max(v, 0.0), 1.0)) * plot_height

    for i in range(6):
        v = i / 5
        y = y_of(v)
        d.line([(left, y), (width - 12, y)], fill=(225, 225, 225) if i else (0, 0, 0))
        label = f"{v:.1f}"
        d.text(
            (left - 8 - text_size(label, small)[0], y - lh // 2 + 1),
            label,
            fill="black",
            font=small,
        )
    d.line([(left, top), (left, top + plot_height)], fill="black")
    colours = _colours(table)
    for g, column in enumerate(table.columns):
        x0 = left + 15 + g * group_w
        pad = (group_w - 30 - n * bar_width) / 2
        for b, row in enumerate(rows):
            cell = row.cells[column]
            if math.isnan(cell.mean):
                continue
            xa, xb = x0 + pad + b * bar_width + 3, x0 + pad + (b + 1) * bar_width - 3
            d.rectangle([xa, y_of(cell.mean), xb, y_of(0.0)], fill=colours[b], outline="black")
            if not math.isnan(cell.se) and cell.se > 0:
                xm = (xa + xb) / 2
                lo, hi = y_of(cell.mean - cell.se), y_of(cell.mean + cell.se)
                d.line([(xm, lo), (xm, hi)], fill="black", width=2)
                d.line([(xm - 5, lo), (xm + 5, lo)], fill="black", width=2)
                d.line([(xm - 5, hi), (xm + 5, hi)], fill="black", width=2)
        heading = COLUMNS[column]
        tw = text_size(heading, small)[0]
        d.text(
            (x0 + (group_w - 30 - tw) / 2, top + plot_height + 6),
            heading,
            fill="black",
            font=small,
        )
    y = top + plot_height + 2 * lh + 12
    for b, row in enumerate(rows):
        cx = 40 + (b % legend_cols) * 190
        cy = y + (b // legend_cols) * lh
        d.rectangle([cx, cy + 2, cx + 14, cy + lh - 5], fill=colours[b], outline="black")
        name = f"{row.method} (baseline)" if row.baseline else row.method
        d.text((cx + 20, cy), name, fill="black", font=small)
    return img


def _colours(table: FigureTable) -> list[tuple[int, int, int]]:
    out, m, b = [], 0, 0
    for row in table.rows:
        if row.baseline:
            out.append(BASELINE_COLOURS[b % len(BASELINE_COLOURS)])
            b += 1
        else:
            out.append(METHOD_COLOURS[m % len(METHOD_COLOURS)])
            m += 1
    return out


def save_figure(table: FigureTable, path: str | Path) -> Path:
    """Write the figure of ``table`` as a PNG."""
    p = Path(path)
    render_figure(table).save(p)
    return p
