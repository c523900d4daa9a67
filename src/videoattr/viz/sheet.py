"""A PNG contact sheet: rows input / heatmap / preserved, a column per frame, with label and score.

Layout (all sizes in pixels, ``s`` = ``scale``, ``p`` = ``pad``)::

    +----------------------------------------------------------+
    | caption of clip 0: "label: <label>  score: <score>"      |   (only with a label or score)
    | input      [frame 0] [frame 1] ... [frame T-1]           |
    | heatmap    [overlay 0] ...                               |   (one row per map channel A)
    | preserved  [preserved 0] ...                             |   (only with ``preserved``)
    | caption of clip 1 ...                                    |
    +----------------------------------------------------------+

Row names sit in a left margin; cells are ``H*s x W*s`` with ``p`` pixels of white between them. The
returned [`Sheet`][videoattr.viz.sheet.Sheet] records where every cell is, so tests and callers can read cells back.
Text uses Pillow's default font; nothing is drawn over the cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from videoattr.core.ops import Polarity
from videoattr.core.validation import check_positive_int, describe
from videoattr.viz.colormaps import Colormap
from videoattr.viz.overlay import as_maps, overlay, to_frames
from videoattr.viz.writers import _preserved_frames

__all__ = ["Sheet", "render_sheet", "save_sheet"]

_TEXT = (0, 0, 0)
_BACKGROUND = 255


@dataclass(frozen=True)
class Sheet:
    """A rendered contact sheet and where its cells are.

    Attributes:
        image: uint8 tensor ``(H_sheet, W_sheet, 3)`` on the CPU.
        row_names: name of every row of cells, top to bottom (``"input"``, ``"heatmap"`` or
            ``"heatmap <i>"``, ``"preserved"`` ...).
        row_clips: the clip index each row belongs to.
        row_tops: the top pixel of every row of cells.
        col_lefts: the left pixel of every column (frame).
        cell_size: ``(h, w)`` of a cell.
        captions: the caption text of each clip (empty without label and score).
    """

    image: Tensor
    row_names: tuple[str, ...]
    row_clips: tuple[int, ...]
    row_tops: tuple[int, ...]
    col_lefts: tuple[int, ...]
    cell_size: tuple[int, int]
    captions: tuple[str, ...]

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

    def save(self, path: str | Path) -> Path:
        """Write the sheet as an image (PNG by default; the ending picks the format)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.image.numpy()).save(p)
        return p


def _per_clip(value: object, b: int, name: str) -> list[object]:
    if value is None:
        return [None] * b
    if isinstance(value, Tensor):
        value = value.detach().flatten().tolist()
    if isinstance(value, (str, int, float)):
        return [value] * b
    if isinstance(value, Sequence) and len(value) == b:
        return list(value)
    raise ValueError(f"{name} must be one value or one per clip ({b}); got {describe(value)}")


def _caption(label: object, score: object) -> str:
    parts = []
    if label is not None:
        parts.append(f"label: {label}")
    if score is not None:
        parts.append(
            f"score: {float(score):.3f}" if isinstance(score, (int, float)) else f"score: {score}"
        )
    return "   ".join(parts)


def render_sheet(
    frames: Tensor,
    heatmap: Tensor,
    preserved: Tensor | None = None,
    *,
    label: str | Sequence[str] | None = None,
    score: float | Sequence[float] | Tensor | None = None,
    cmap: Colormap | None = None,
    alpha: float = 0.5,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    map_names: Sequence[str] | None = None,
    scale: int = 1,
    pad: int = 2,
) -> Sheet:
    """Render the contact sheet of one or more clips (see the module layout).

    Args:
        frames: uint8 frames ``(B, T, H, W, 3)`` / ``(T, H, W, 3)`` or the float input clip
            ``(B, C, T, H, W)``, de-normalised with ``mean``/``std``.
        heatmap: ``(B, A, T, H, W)`` from an attributor (one row per channel ``A``) or ``(T, H,
            W)``.
        preserved: optional perturbed clip (float ``(B, C, T, H, W)`` / ``(B, A, C, T, H, W)``, or
            uint8 frames ``(B, T, H, W, 3)`` / ``(B, A, T, H, W, 3)``): one row, or one per area.
        label: class name written on the sheet, one for all clips or one per clip.
        score: the target's score or probability (float, one per clip, or a ``(B,)`` tensor);
            floats are written with 3 decimals.
        cmap: colormap; default ``"turbo"`` (``"bwr"`` for ``polarity="signed"``).
        alpha: opacity of the colours over the frames; default 0.5 (1 shows the colours only).
        polarity: see [`scale_maps`][videoattr.viz.scale_maps].
        value_range: see [`scale_maps`][videoattr.viz.scale_maps]; ``(0, 1)`` for masks.
        mean: per-channel mean for float clips.
        std: per-channel std for float clips.
        map_names: names of the ``A`` heatmap rows (e.g. the areas); default ``"heatmap"`` for one
            row, ``"heatmap <i>"`` for several.
        scale: integer nearest-neighbour magnification of the cells; default 1.
        pad: white pixels between cells and around the sheet; default 2.

    Returns:
        The [`Sheet`][videoattr.viz.sheet.Sheet].

    Example:
        >>> sheet = render_sheet(torch.zeros(4, 8, 8, 3, dtype=torch.uint8), torch.rand(4, 8, 8),
        ...                      label="juggling", score=0.91)
        >>> sheet.row_names
        ('input', 'heatmap')
    """
    scale = check_positive_int(scale, "scale")
    pad = check_positive_int(pad, "pad", minimum=0)
    rgb = to_frames(frames, mean, std)
    if rgb.dim() == 4:
        rgb = rgb.unsqueeze(0)
    maps = as_maps(heatmap)
    over = overlay(rgb, maps, cmap, alpha, polarity=polarity, value_range=value_range).cpu()
    b, a = over.shape[:2]
    kept = _preserved_frames(preserved, mean, std, b)
    kept = kept.cpu() if kept is not None else None
    if map_names is not None and len(map_names) != a:
        raise ValueError(
            f"map_names must have {a} entries, one per heatmap channel; got {len(map_names)}"
        )
    names = (
        list(map_names)
        if map_names is not None
        else (["heatmap"] if a == 1 else [f"heatmap {i}" for i in range(a)])
    )
    labels, scores = _per_clip(label, b, "label"), _per_clip(score, b, "score")
    captions = tuple(_caption(lab, sc) for lab, sc in zip(labels, scores, strict=True))

    # Rows of cells: (name, clip, frames (T, H, W, 3)).
    rows: list[tuple[str, int, Tensor]] = []
    for i in range(b):
        rows.append(("input", i, rgb[min(i, rgb.shape[0] - 1)].cpu()))
        rows.extend((names[j], i, over[i, j]) for j in range(a))
        if kept is not None:
            k = kept.shape[1]
            rows.extend(
                ("preserved" if k == 1 else f"preserved {j}", i, kept[i, j]) for j in range(k)
            )

    t, h, w = rows[0][2].shape[:3]
    ch, cw = h * scale, w * scale
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return int(right - left), int(bottom - top)

    text_h = text_size("Ag")[1]
    line_h = text_h + 2 * max(pad, 2)
    row_h = max(ch, text_h + 2)
    margin = max(text_size(name)[0] for name, _, _ in rows) + 3 * max(pad, 2)
    grid_w = margin + t * (cw + pad)
    width = max(grid_w, *(text_size(c)[0] + 2 * max(pad, 2) for c in captions)) + pad

    row_tops: list[int] = []
    caption_tops: list[int | None] = []
    y = pad
    for i in range(b):
        caption_tops.append(y if captions[i] else None)
        if captions[i]:
            y += line_h
        for _, clip, _ in rows:
            if clip == i:
                row_tops.append(y)
                y += row_h + pad
    height = y
    col_lefts = [margin + j * (cw + pad) for j in range(t)]

    canvas = np.full((height, width, 3), _BACKGROUND, dtype=np.uint8)
    for (_, _, video), top in zip(rows, row_tops, strict=True):
        if video.shape[:3] != (t, h, w):
            raise ValueError(
                f"all rows must share (T, H, W) = {(t, h, w)}; got {tuple(video.shape[:3])}"
            )
        cells = video.repeat_interleave(scale, 1).repeat_interleave(scale, 2).numpy()
        for j, left in enumerate(col_lefts):
            canvas[top : top + ch, left : left + cw] = cells[j]
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for (name, _, _), top in zip(rows, row_tops, strict=True):
        text_top = top + max(0, (ch - text_h) // 2)
        draw.text((max(pad, 2), text_top), name, fill=_TEXT, font=font)
    for text, caption_top in zip(captions, caption_tops, strict=True):
        if caption_top is not None:
            draw.text((max(pad, 2), caption_top + max(pad, 2) // 2), text, fill=_TEXT, font=font)
    return Sheet(
        image=torch.from_numpy(np.array(image)),
        row_names=tuple(name for name, _, _ in rows),
        row_clips=tuple(clip for _, clip, _ in rows),
        row_tops=tuple(row_tops),
        col_lefts=tuple(col_lefts),
        cell_size=(ch, cw),
        captions=captions,
    )


def save_sheet(
    path: str | Path,
    frames: Tensor,
    heatmap: Tensor,
    preserved: Tensor | None = None,
    *,
    label: str | Sequence[str] | None = None,
    score: float | Sequence[float] | Tensor | None = None,
    cmap: Colormap | None = None,
    alpha: float = 0.5,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    map_names: Sequence[str] | None = None,
    scale: int = 1,
    pad: int = 2,
) -> Sheet:
    """Render a contact sheet with [`render_sheet`][videoattr.viz.sheet.render_sheet] (same arguments) and save it to ``path``.

    Returns:
        The [`Sheet`][videoattr.viz.sheet.Sheet] that was written (PNG unless ``path`` ends otherwise).

    Example:
        >>> save_sheet("sheet.png", clip, attr, label="juggling", score=0.91)  # doctest: +SKIP
    """
    sheet = render_sheet(
        frames,
        heatmap,
        preserved,
        label=label,
        score=score,
        cmap=cmap,
        alpha=alpha,
        polarity=polarity,
        value_range=value_range,
        mean=mean,
        std=std,
        map_names=map_names,
        scale=scale,
        pad=pad,
    )
    sheet.save(path)
    return sheet
