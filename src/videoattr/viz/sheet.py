"""A PNG contact sheet: a header that says what is shown, rows input / heatmap / preserved, a
column per frame with its number, and a colour bar with the value range.

Layout (all sizes in pixels, ``s`` = ``scale``, ``p`` = ``pad``)::

    +-------------------------------------------------------------------------+
    | header of clip 0 (its SheetCaption: target, p(target | clip), prediction,|
    |   p(prediction | clip), method and settings, RANDOM WEIGHTS note)        |
    |            frame 0     frame 2     ...                                   |
    | input      [frame 0] [frame 1] ... [frame T-1]                           |
    | heatmap    [overlay 0] ...                       (one row per channel A) |
    | preserved  [preserved 0] ...                     (only with preserved)   |
    | header of clip 1 ...                                                     |
    | colour     [==== colour bar ====]  lo ... hi                             |
    +-------------------------------------------------------------------------+

Row names sit in a left margin; cells are ``H*s x W*s`` with ``p`` pixels of white between them.
Nothing is drawn over the cells. The returned [`Sheet`][videoattr.viz.sheet.Sheet] records where
every cell and the colour bar are, so tests and callers can read them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from videoattr.core.ops import Polarity
from videoattr.core.validation import check_positive_int
from videoattr.viz.colormaps import Colormap
from videoattr.viz.legend import Legend, render_legend
from videoattr.viz.overlay import as_maps, blend, to_frames
from videoattr.viz.picture import Picture
from videoattr.viz.sheet_rows import (
    Row,
    build_rows,
    clip_captions,
    map_labels,
    names_of_targets,
    nested_values,
)
from videoattr.viz.style import OverlayStyle, SheetCaption, merge_style
from videoattr.viz.text import DEFAULT_FONT_SIZE, Font, font, line_height, text_size
from videoattr.viz.writers import _preserved_frames, auto_scale

__all__ = ["Sheet", "auto_scale", "render_sheet", "save_sheet"]

_TEXT = (0, 0, 0)
_WARNING = (200, 0, 0)
_BACKGROUND = 255


@dataclass(frozen=True)
class Sheet(Picture):
    """A rendered contact sheet and where its parts are.

    Attributes:
        image: uint8 tensor ``(H_sheet, W_sheet, 3)`` on the CPU.
        row_names: name of every row of cells, top to bottom (``"input"``, ``"heatmap"`` or
            ``"heatmap <i>"``, ``"preserved"`` ...).
        row_clips: the clip index each row belongs to.
        row_tops: the top pixel of every row of cells.
        col_lefts: the left pixel of every column (frame).
        cell_size: ``(h, w)`` of a cell.
        captions: the header text of each clip (lines joined by newlines; empty without caption).
        frame_labels: the label written above every column (e.g. ``"frame 4"``).
        colorbar: ``(top, left, height, width)`` of the colour bar's gradient, or ``None``.
        row_labels: the text written left of every row (lines joined by newlines), e.g.
            ``"preserved\\narea 0.1\\np(target | preserved)\\n= 0.946"``.
        colorbar_ticks: the texts under the colour bar's low end, middle and high end.
        colorbar_note: how values were mapped to colours (e.g. ``"signed, centred on 0: ..."``).
    """

    image: Tensor
    row_names: tuple[str, ...]
    row_clips: tuple[int, ...]
    row_tops: tuple[int, ...]
    col_lefts: tuple[int, ...]
    cell_size: tuple[int, int]
    captions: tuple[str, ...]
    frame_labels: tuple[str, ...] = ()
    colorbar: tuple[int, int, int, int] | None = None
    row_labels: tuple[str, ...] = ()
    colorbar_ticks: tuple[str, ...] = ()
    colorbar_note: str = ""

    def row(self, name: str, clip: int = 0) -> int:
        """Index of the row called ``name`` of clip ``clip``."""
        for i, (n, c) in enumerate(zip(self.row_names, self.row_clips, strict=True)):
            if n == name and c == clip:
                return i
        raise KeyError(f"no row {name!r} for clip {clip}; rows are {list(self.row_names)}")

    def cell(self, row: int | str, col: int, clip: int = 0) -> Tensor:
        """The ``(h, w, 3)`` pixels of the cell at ``row`` (index or name) and column ``col``."""
        r = self.row(row, clip) if isinstance(row, str) else row
        top, left = self.row_tops[r], self.col_lefts[col]
        h, w = self.cell_size
        return self.image[top : top + h, left : left + w]

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        clips = len(set(self.row_clips))
        header = self.captions[0].split("\n")[0] if self.captions and self.captions[0] else ""
        more = f", header={header!r}" if header else ""
        return (
            f"Sheet({w}x{h} px, clips={clips}, rows={list(self.row_names[: len(self.row_names) // clips])}"
            f", frames={len(self.col_lefts)}, cell={self.cell_size[0]}x{self.cell_size[1]}{more})"
        )


def _frame_labels(
    t: int, frame_indices: Sequence[int] | None, fps: float | None, cell_w: int, fnt: Font
) -> list[str]:
    """``"frame i"`` (or ``"i"`` where that does not fit, or ``"t=1.25s"`` with ``fps``) per column."""
    indices = list(range(t)) if frame_indices is None else [int(i) for i in frame_indices]
    if len(indices) != t:
        raise ValueError(f"frame_indices must have {t} entries, one per column; got {len(indices)}")
    if fps is not None:
        labels = [f"t={i / fps:.2f}s" for i in indices]
    else:
        labels = [f"frame {i}" for i in indices]
    if max(text_size(x, fnt)[0] for x in labels) > cell_w:
        labels = [str(i) for i in indices]
    return labels


@dataclass(frozen=True)
class _Layout:
    """Where everything goes: computed before anything is drawn."""

    width: int
    height: int
    margin: int
    col_lefts: list[int]
    row_tops: list[int]
    row_heights: list[int]
    header_tops: list[int]
    label_tops: list[int]
    legend_top: int | None


def _layout(
    rows: list[Row],
    headers: list[tuple[str, ...]],
    labels: list[str],
    cell: tuple[int, int],
    pad: int,
    fnt: Font,
    legend: Legend | None,
) -> _Layout:
    ch, cw = cell
    t = len(labels)
    gap = max(pad, 4)
    step = line_height(fnt)
    names = [line for row in rows for line in row.label] + (["colour"] if legend else [])
    margin = max(text_size(name, fnt)[0] for name in names) + 2 * gap
    grid_w = margin + t * (cw + pad)
    text_w = max(
        [text_size(line, fnt)[0] + 2 * gap for lines in headers for line in lines], default=0
    )
    row_tops, row_heights, header_tops, label_tops = [], [], [], []
    y = pad
    for i, lines in enumerate(headers):
        header_tops.append(y)
        y += len(lines) * step + (gap // 2 if lines else 0)
        label_tops.append(y)
        y += step
        for row in rows:
            if row.clip == i:
                row_tops.append(y)
                row_heights.append(max(ch, len(row.label) * step))
                y += row_heights[-1] + pad
        y += gap
    legend_top = None
    if legend is not None:
        legend_top = y
        y += legend.image.shape[0]
        grid_w = max(grid_w, legend.image.shape[1])
    col_lefts = [margin + j * (cw + pad) for j in range(t)]
    return _Layout(
        width=max(grid_w, text_w) + pad,
        height=y,
        margin=margin,
        col_lefts=col_lefts,
        row_tops=row_tops,
        row_heights=row_heights,
        header_tops=header_tops,
        label_tops=label_tops,
        legend_top=legend_top,
    )


def _paint_cells(canvas: np.ndarray, rows: list[Row], lay: _Layout, scale: int) -> None:
    for row, top in zip(rows, lay.row_tops, strict=True):
        cells = row.video.repeat_interleave(scale, 1).repeat_interleave(scale, 2).numpy()
        ch, cw = cells.shape[1:3]
        for j, left in enumerate(lay.col_lefts):
            canvas[top : top + ch, left : left + cw] = cells[j]


def _draw_text(
    image: Image.Image,
    rows: list[Row],
    headers: list[tuple[str, ...]],
    warn: list[bool],
    labels: list[str],
    lay: _Layout,
    ch: int,
    fnt: Font,
) -> None:
    draw = ImageDraw.Draw(image)
    gap = 4
    step = line_height(fnt)
    for lines, top, is_random in zip(headers, lay.header_tops, warn, strict=True):
        for k, line in enumerate(lines):
            red = is_random and line == SheetCaption.RANDOM_WEIGHTS_NOTE
            draw.text((gap, top + k * step), line, fill=_WARNING if red else _TEXT, font=fnt)
    for top in lay.label_tops:
        for label, left in zip(labels, lay.col_lefts, strict=True):
            draw.text((left, top), label, fill=_TEXT, font=fnt)
    for row, top in zip(rows, lay.row_tops, strict=True):
        y = top + max(0, (ch - len(row.label) * step) // 2)
        for k, line in enumerate(row.label):
            draw.text((gap, y + k * step), line, fill=_TEXT, font=fnt)


def render_sheet(
    frames: Tensor,
    heatmap: Tensor,
    preserved: Tensor | None = None,
    *,
    caption: SheetCaption | Sequence[SheetCaption] | None = None,
    style: OverlayStyle | None = None,
    map_names: Sequence[str] | None = None,
    target_names: Sequence[object] | Tensor | None = None,
    class_names: Sequence[str] | None = None,
    target_probabilities: Sequence[object] | Tensor | None = None,
    frame_indices: Sequence[int] | None = None,
    fps: float | None = None,
    scale: int | None = None,
    font_size: int = DEFAULT_FONT_SIZE,
    colorbar: bool = True,
    pad: int = 2,
    cmap: Colormap | None = None,
    alpha: float | None = None,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Sheet:
    """Render the contact sheet of one or more clips (see the module layout).

    Signed maps (any negative value) are drawn on a diverging scale centred on zero and the colour
    bar says so (see [`OverlayStyle.resolve`][videoattr.viz.style.OverlayStyle.resolve]).

    Args:
        frames: uint8 frames ``(B, T, H, W, 3)`` / ``(T, H, W, 3)`` or the float input clip
            ``(B, C, T, H, W)``, de-normalised with the style's ``mean``/``std``.
        heatmap: ``(B, A, T, H, W)`` from an attributor (one row per channel ``A``),
            ``(B, K, A, T, H, W)`` for ``K`` targets per clip (one row per target, named by
            ``target_names``), or ``(T, H, W)``.
        preserved: optional perturbed clip (float ``(B, C, T, H, W)`` / ``(B, A, C, T, H, W)``, or
            uint8 frames ``(B, T, H, W, 3)`` / ``(B, A, T, H, W, 3)``): one row, or one per area
            (then each area's preserved row follows its mask row, labelled with the area and, when
            the caption gives one per area, its ``p(target | preserved)``).
        caption: what the sheet shows, one [`SheetCaption`][videoattr.viz.style.SheetCaption]
            for all clips or one per clip; written as each clip's header.
        style: the [`OverlayStyle`][videoattr.viz.style.OverlayStyle]; default
            ``OverlayStyle()`` (``value_range=(0, 1)`` suits masks).
        map_names: names of the ``A`` heatmap rows (e.g. the areas); default ``"heatmap"`` for one
            row, ``"heatmap <i>"`` for several.
        target_names: with ``(B, K, A, T, H, W)`` maps, the row label of each target: ``K`` names
            (or class indices) shared by every clip, or ``B`` lists of ``K``, e.g. an
            explanation's ``target`` tensor ``(B, K)``; default ``"target <k>"``.
        class_names: turns class indices in ``target_names`` into names; default ``None``.
        target_probabilities: with several targets, ``p(target | clip)`` of each, shaped like
            ``target_names`` (e.g. an explanation's ``target_probability``), written under its
            name; default ``None``.
        frame_indices: the frame number of every column (e.g. ``range(0, 16, 2)`` when every
            other frame is shown); default ``0 .. T-1``.
        fps: frames per second of the video; when given the columns are labelled by time.
        scale: integer nearest-neighbour magnification of the cells; default ``None``: the
            smallest that makes cells at least 96 pixels high (2 for 56-pixel clips), at most 8.
        font_size: text height in pixels; default 14.
        colorbar: draw the colour bar with the value range under the cells; default ``True``.
        pad: white pixels between cells and around the sheet; default 2.
        cmap: overrides ``style.cmap``.
        alpha: overrides ``style.alpha``.
        polarity: overrides ``style.polarity``.
        value_range: overrides ``style.value_range``.
        mean: overrides ``style.mean``.
        std: overrides ``style.std``.

    Returns:
        The [`Sheet`][videoattr.viz.sheet.Sheet].

    Raises:
        ValueError: shapes that do not fit, or ``preserved`` with several targets per clip.

    Example:
        >>> sheet = render_sheet(torch.zeros(4, 8, 8, 3, dtype=torch.uint8), torch.rand(4, 8, 8),
        ...                      caption=SheetCaption(target="juggling", target_probability=0.91))
        >>> sheet.row_names, sheet.captions[0]
        (('input', 'heatmap'), 'target: juggling   p(target | clip) = 0.910')
        >>> several = render_sheet(torch.zeros(1, 4, 8, 8, 3, dtype=torch.uint8),
        ...                        torch.randn(1, 2, 1, 4, 8, 8), target_names=["run", "walk"])
        >>> several.row_names
        ('input', 'run', 'walk')
    """
    st = merge_style(
        style,
        cmap=cmap,
        alpha=alpha,
        polarity=polarity,
        value_range=value_range,
        mean=mean,
        std=std,
    )
    pad = check_positive_int(pad, "pad", minimum=0)
    font_size = check_positive_int(font_size, "font_size")
    rgb = to_frames(frames, st.mean, st.std)
    if rgb.dim() == 4:
        rgb = rgb.unsqueeze(0)
    targets = probs = None
    if isinstance(heatmap, Tensor) and heatmap.dim() == 6:  # (B, K, A, T, H, W): several targets
        if preserved is not None:
            raise ValueError(
                "preserved: clips preserved for several targets per clip are not drawn on one "
                "sheet; render one sheet per target (heatmap[:, k])"
            )
        b6, k6 = heatmap.shape[:2]
        targets = names_of_targets(target_names, class_names, b6, k6)
        if target_probabilities is not None:
            values = nested_values(target_probabilities, b6, k6, "target_probabilities")
            probs = [[float(v) for v in row] for row in values]  # type: ignore[arg-type]
        heatmap = heatmap.flatten(1, 2)
    maps = as_maps(heatmap)
    st = st.resolve(maps.detach())
    over = blend(rgb, maps, st).cpu()
    b, a = over.shape[:2]
    kept = _preserved_frames(preserved, st.mean, st.std, b)
    names = map_labels(map_names, targets, probs, b, a)
    caps = clip_captions(caption, b)
    rows = build_rows(rgb, over, None if kept is None else kept.cpu(), names, caps)
    t, h, w = rows[0].video.shape[:3]
    scale = auto_scale(h) if scale is None else check_positive_int(scale, "scale")
    fnt = font(font_size)
    headers = [() if c is None else c.lines() for c in caps]
    labels = _frame_labels(t, frame_indices, fps, w * scale, fnt)
    legend = None
    if colorbar:
        margin = max(text_size(x, fnt)[0] for r in rows for x in r.label) + 2 * max(pad, 4)
        margin = max(margin, text_size("colour", fnt)[0] + 2 * max(pad, 4))
        grid = margin + t * (w * scale + pad)
        legend = render_legend(st, maps, width=grid, label_width=margin, fnt=fnt)
    lay = _layout(rows, headers, labels, (h * scale, w * scale), pad, fnt, legend)

    canvas = np.full((lay.height, lay.width, 3), _BACKGROUND, dtype=np.uint8)
    _paint_cells(canvas, rows, lay, scale)
    bar = None
    if legend is not None and lay.legend_top is not None:
        lh, lw = legend.image.shape[:2]
        canvas[lay.legend_top : lay.legend_top + lh, :lw] = legend.image.numpy()
        top, left, height, width = legend.bar
        bar = (lay.legend_top + top, left, height, width)
    image = Image.fromarray(canvas)
    warn = [c is not None and c.random_weights for c in caps]
    _draw_text(image, rows, headers, warn, labels, lay, h * scale, fnt)
    return Sheet(
        image=torch.from_numpy(np.array(image)),
        row_names=tuple(r.name for r in rows),
        row_clips=tuple(r.clip for r in rows),
        row_tops=tuple(lay.row_tops),
        col_lefts=tuple(lay.col_lefts),
        cell_size=(h * scale, w * scale),
        captions=tuple("\n".join(lines) for lines in headers),
        frame_labels=tuple(labels),
        colorbar=bar,
        row_labels=tuple("\n".join(r.label) for r in rows),
        colorbar_ticks=legend.ticks if legend is not None else (),
        colorbar_note=legend.note if legend is not None else "",
    )


def save_sheet(
    path: str | Path,
    frames: Tensor,
    heatmap: Tensor,
    preserved: Tensor | None = None,
    **options: object,
) -> Sheet:
    """Render a contact sheet with [`render_sheet`][videoattr.viz.sheet.render_sheet] and save it.

    Args:
        path: the file to write (PNG unless the ending says otherwise).
        frames: as for [`render_sheet`][videoattr.viz.sheet.render_sheet].
        heatmap: as for [`render_sheet`][videoattr.viz.sheet.render_sheet].
        preserved: as for [`render_sheet`][videoattr.viz.sheet.render_sheet].
        **options: every keyword argument of [`render_sheet`][videoattr.viz.sheet.render_sheet]
            (``caption``, ``style``, ``scale``, ...).

    Returns:
        The [`Sheet`][videoattr.viz.sheet.Sheet] that was written.

    Example:
        >>> save_sheet("sheet.png", clip, attr, caption=SheetCaption(target="juggling"))
        ... # doctest: +SKIP
    """
    sheet = render_sheet(frames, heatmap, preserved, **options)  # type: ignore[arg-type]
    sheet.save(path)
    return sheet
