"""Save frames and side-by-side panels as animated GIF and MP4 files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from videoattr.core.ops import Polarity
from videoattr.core.validation import check_positive_int, describe
from videoattr.io import write_video
from videoattr.viz.colormaps import Colormap
from videoattr.viz.legend import render_legend
from videoattr.viz.overlay import as_maps, blend, preserved_clip, to_frames
from videoattr.viz.style import OverlayStyle, SheetCaption, merge_style
from videoattr.viz.text import (
    DEFAULT_FONT_SIZE,
    caption_strip,
    font,
    line_height,
    text_size,
    wrap,
)

__all__ = ["auto_scale", "panels", "save_gif", "save_mp4", "strip_lines", "tile"]

#: Cells and panels are magnified (by an integer) to at least this height when ``scale`` is ``None``.
MIN_CELL_HEIGHT = 96


def tile(videos: Tensor | Sequence[Tensor], *, pad: int = 2, fill: int = 255) -> Tensor:
    """Place videos side by side, left to right, into one video.

    Args:
        videos: one uint8 tensor ``(..., T, H, W, 3)`` (every leading index becomes a column) or a
            sequence of them; all share ``T`` and ``H``.
        pad: pixels of ``fill`` between neighbours; default 2.
        fill: grey level of the padding; default 255 (white).

    Returns:
        uint8 video ``(T, H, W_total, 3)`` on the first video's device.

    Raises:
        ValueError: the videos differ in ``T`` or ``H``, or a tensor has the wrong shape.
    """
    items = [videos] if isinstance(videos, Tensor) else list(videos)
    columns: list[Tensor] = []
    for v in items:
        if not isinstance(v, Tensor) or v.dtype != torch.uint8 or v.dim() < 4 or v.shape[-1] != 3:
            raise ValueError(f"videos must be uint8 tensors (..., T, H, W, 3); got {describe(v)}")
        columns.extend(v.reshape(-1, *v.shape[-4:]).unbind(0))
    if not columns:
        raise ValueError("videos must hold at least one video; got none")
    t, h = columns[0].shape[:2]
    if any(c.shape[:2] != (t, h) for c in columns):
        shapes = sorted({tuple(c.shape[:2]) for c in columns})
        raise ValueError(f"videos must share (T, H) to be tiled; got {shapes}")
    device = columns[0].device
    gap = torch.full((t, h, pad, 3), fill, dtype=torch.uint8, device=device)
    parts: list[Tensor] = []
    for i, c in enumerate(columns):
        if i and pad:
            parts.append(gap)
        parts.append(c.to(device))
    return torch.cat(parts, dim=2)


def _stack_rows(rows: Sequence[Tensor], pad: int, fill: int) -> Tensor:
    width = max(r.shape[2] for r in rows)
    out: list[Tensor] = []
    for i, r in enumerate(rows):
        if r.shape[2] < width:
            extra = torch.full((*r.shape[:2], width - r.shape[2], 3), fill, dtype=torch.uint8)
            r = torch.cat([r, extra.to(r.device)], dim=2)
        if i and pad:
            out.append(
                torch.full((r.shape[0], pad, width, 3), fill, dtype=torch.uint8, device=r.device)
            )
        out.append(r)
    return torch.cat(out, dim=1)


def auto_scale(height: int) -> int:
    """The integer magnification that brings cells of ``height`` pixels to at least 96 (at most 8)."""
    return max(1, min(8, -(-MIN_CELL_HEIGHT // max(height, 1))))


def panels(
    frames: Tensor,
    heatmap: Tensor,
    preserved: Tensor | None = None,
    *,
    style: OverlayStyle | None = None,
    caption: SheetCaption | str | None = None,
    frame_indices: Sequence[int] | None = None,
    fps: float | None = None,
    scale: int | None = None,
    font_size: int = DEFAULT_FONT_SIZE,
    pad: int = 2,
    labels: bool | None = None,
    colorbar: bool | None = None,
    map_names: Sequence[str] | None = None,
    cmap: Colormap | None = None,
    alpha: float | None = None,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Tensor:
    """One video showing, for each clip, the input | the overlaid maps | the preserved clip.

    With a ``caption`` the video says what it shows, like a sheet: a white strip on top names the
    method, the target and the frame (``"step | target: down"`` and ``"frame 3 of 0-15"``, frames
    numbered from 0 as on the sheets), every panel has its name above it (``input``, the map or
    area, ``preserved``), and the colour bar with its range is drawn underneath.

    Args:
        frames: uint8 frames ``(B, T, H, W, 3)`` / ``(T, H, W, 3)`` or the float input clip
            ``(B, C, T, H, W)`` (de-normalised with the style's ``mean``/``std``).
        heatmap: ``(B, A, T, H, W)`` maps or a ``(T, H, W)`` map; see
            [`overlay`][videoattr.viz.overlay.overlay].
        preserved: optional perturbed clip, float ``(B, C, T, H, W)`` / ``(B, A, C, T, H, W)`` or
            uint8 frames ``(B, T, H, W, 3)`` / ``(B, A, T, H, W, 3)``.
        style: the [`OverlayStyle`][videoattr.viz.style.OverlayStyle]; default ``OverlayStyle()``
            (signed maps are drawn centred on zero, as on sheets).
        caption: a [`SheetCaption`][videoattr.viz.style.SheetCaption] (its
            [`short`][videoattr.viz.style.SheetCaption.short] line is used) or a line of text;
            default ``None``: no caption strip.
        frame_indices: the frame number of every frame in the strip; default ``0 .. T-1``.
        fps: frames per second; when given the strip also shows the time.
        scale: integer nearest-neighbour magnification of every panel; default ``None``: the
            smallest that makes panels at least 96 pixels high (2 for 56-pixel clips), at most 8.
        font_size: text height of the strip in pixels; default 14.
        pad: pixels between panels; default 2.
        labels: write each panel's name above it; default ``None``: with a caption.
        colorbar: draw the colour bar under the panels; default ``None``: with a caption.
        map_names: names of the ``A`` map panels (e.g. ``["area 0.05", "area 0.2"]``); default
            ``"heatmap"`` (``"heatmap <i>"`` for several).
        cmap: overrides ``style.cmap``.
        alpha: overrides ``style.alpha``.
        polarity: overrides ``style.polarity``.
        value_range: overrides ``style.value_range``.
        mean: overrides ``style.mean``.
        std: overrides ``style.std``.

    Returns:
        uint8 video ``(T, H', W', 3)``; clips are stacked top to bottom, panels left to right, the
        caption strip (if any) on top, the colour bar (if any) at the bottom.
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
    rgb = to_frames(frames, st.mean, st.std)
    if rgb.dim() == 4:
        rgb = rgb.unsqueeze(0)
    maps = as_maps(heatmap)
    st = st.resolve(maps.detach())
    over = blend(rgb, maps, st)  # (B, A, T, H, W, 3)
    b, a = over.shape[:2]
    scale = auto_scale(over.shape[-3]) if scale is None else check_positive_int(scale, "scale")
    if map_names is not None and len(map_names) != a:
        raise ValueError(f"map_names must have {a} entries, one per map; got {len(map_names)}")
    kept = _preserved_frames(preserved, st.mean, st.std, b)
    rows = []
    for i in range(b):
        row = [rgb[min(i, rgb.shape[0] - 1)].to(over.device), over[i]]
        if kept is not None:
            row.append(kept[i].to(over.device))
        rows.append(tile(row, pad=pad))
    names = ["input"] + (
        list(map_names)
        if map_names is not None
        else ["heatmap"]
        if a == 1
        else [f"heatmap {j}" for j in range(a)]
    )
    if kept is not None:
        r = kept.shape[1]
        names += ["preserved"] if r == 1 else [f"preserved\n{n}" for n in names[1 : 1 + r]]
        probs = caption.preserved_probabilities() if isinstance(caption, SheetCaption) else ()
        if len(probs) == r:  # each preserved panel says what it keeps of the target
            names[-r:] = [
                f"{n}\np(target | preserved)\n= {v:.3f}"
                for n, v in zip(names[-r:], probs, strict=True)
            ]
    if scale > 1:
        rows = [r.repeat_interleave(scale, 1).repeat_interleave(scale, 2) for r in rows]
    with_labels = caption is not None if labels is None else bool(labels)
    if with_labels:
        width = over.shape[-2] * scale
        step = (over.shape[-2] + pad) * scale
        rows = [_with_panel_labels(r.cpu(), names, width, step, font_size) for r in rows]
    video = _stack_rows(rows, pad * scale, 255)
    band = None
    if colorbar if colorbar is not None else caption is not None:
        band = _colorbar_band(video.shape[2], st, maps, font_size)
        video = _widened(video.cpu(), band.shape[1])  # a narrow video gets room for the bar
    if caption is not None:
        video = caption_strip(
            video.cpu(),
            strip_lines(caption, video.shape[0], frame_indices, fps),
            font_size=font_size,
            colors=_strip_colors(caption),
        )
    if band is not None:
        video = torch.cat(
            [video.cpu(), _widened(band[None], video.shape[2]).expand(video.shape[0], -1, -1, -1)],
            dim=1,
        )
    return video


def _with_panel_labels(
    row: Tensor, names: Sequence[str], width: int, step: int, font_size: int
) -> Tensor:
    """``row`` ``(T, H, W, 3)`` with a white band on top naming each panel.

    A name's lines (split at newlines) are wrapped to the panel's width.
    """
    fnt = font(font_size)
    gap = 3
    lines = [
        [x for part in name.split("\n") for x in wrap(part, width - gap, fnt)] for name in names
    ]
    height = max(len(x) for x in lines) * line_height(fnt) + 2
    image = Image.new("RGB", (row.shape[2], height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for j, text in enumerate(lines):
        for k, line in enumerate(text):
            draw.text((j * step + gap, 1 + k * line_height(fnt)), line, fill=(0, 0, 0), font=fnt)
    band = torch.from_numpy(np.array(image)).expand(row.shape[0], -1, -1, -1)
    return torch.cat([band, row], dim=1)


def _colorbar_band(width: int, style: OverlayStyle, maps: Tensor, font_size: int) -> Tensor:
    """The colour bar of ``style`` as a white band ``(h, w, 3)``, ``w >= width``."""
    fnt = font(font_size)
    margin = text_size("colour", fnt)[0] + 8
    return render_legend(style, maps, width=width, label_width=margin, fnt=fnt).image


def _widened(video: Tensor, width: int) -> Tensor:
    """``video`` ``(..., H, W, 3)`` padded on the right with white to ``width`` (if narrower)."""
    if video.shape[-2] >= width:
        return video
    extra = torch.full((*video.shape[:-2], width - video.shape[-2], 3), 255, dtype=torch.uint8)
    return torch.cat([video, extra.to(video.device)], dim=-2)


def strip_lines(
    caption: SheetCaption | str,
    t: int,
    frame_indices: Sequence[int] | None = None,
    fps: float | None = None,
) -> list[list[str]]:
    """The caption strip's lines for each of ``t`` frames.

    Top to bottom: the random-weights warning (if the caption has it), the caption's
    [`short`][videoattr.viz.style.SheetCaption.short] line (or the text), the frame number (and
    the time with ``fps``). Frames are numbered as on the sheets: from 0, or by
    ``frame_indices``; ``"frame 3 of 0-15"`` gives the range of a whole clip.
    """
    head = caption.short() if isinstance(caption, SheetCaption) else str(caption)
    random = isinstance(caption, SheetCaption) and caption.random_weights
    warning = [SheetCaption.RANDOM_WEIGHTS_SHORT] if random else []
    indices = list(range(t)) if frame_indices is None else [int(i) for i in frame_indices]
    if len(indices) != t:
        raise ValueError(f"frame_indices must have {t} entries, one per frame; got {len(indices)}")
    out = []
    for i in indices:
        frame = f"frame {i}" + (f" of 0-{t - 1}" if frame_indices is None else "")
        if fps is not None:
            frame += f"   t = {i / fps:.2f} s"
        out.append([*warning, head, frame] if head else [*warning, frame])
    return out


def _strip_colors(caption: SheetCaption | str) -> list[tuple[int, int, int]] | None:
    if isinstance(caption, SheetCaption) and caption.random_weights:
        return [(200, 0, 0)]
    return None


def _preserved_frames(
    preserved: Tensor | None, mean: Sequence[float] | None, std: Sequence[float] | None, b: int
) -> Tensor | None:
    """Preserved frames as ``(B, R, T, H, W, 3)`` (``R`` = 1 or ``A``), or ``None``."""
    if preserved is None:
        return None
    if not isinstance(preserved, Tensor):
        raise TypeError(f"preserved must be a tensor; got {describe(preserved)}")
    if preserved.is_floating_point():
        kept = preserved_clip(preserved, mean, std)
    else:
        kept = preserved if preserved.dim() == 6 else to_frames(preserved, name="preserved")
    if kept.dim() == 4:
        kept = kept.unsqueeze(0)
    if kept.dim() == 5:
        kept = kept.unsqueeze(1)
    if kept.shape[0] != b:
        raise ValueError(f"preserved holds {kept.shape[0]} clips but the heatmap holds {b}")
    return kept


def save_gif(path: str | Path, frames: Tensor, fps: float = 8.0) -> Path:
    """Save uint8 frames ``(..., T, H, W, 3)`` as a looping GIF (leading dims tiled side by side).

    See [`videoattr.io.write_video`][videoattr.io.write_video] for the format's details (256-colour palette per frame).

    Returns:
        The written path.
    """
    return write_video(_checked_suffix(path, (".gif",)), _as_video(frames), fps)


def save_mp4(path: str | Path, frames: Tensor, fps: float = 8.0, *, crf: int | None = None) -> Path:
    """Save uint8 frames ``(..., T, H, W, 3)`` as an H.264 MP4 (leading dims tiled side by side).

    See [`videoattr.io.write_video`][videoattr.io.write_video] (``crf`` default 18; odd sizes padded to even).

    Returns:
        The written path.
    """
    return write_video(_checked_suffix(path, (".mp4",)), _as_video(frames), fps, crf=crf)


def _checked_suffix(path: str | Path, endings: tuple[str, ...]) -> Path:
    p = Path(path)
    if p.suffix.lower() not in endings:
        raise ValueError(f"path must end with {' or '.join(endings)}; got {str(p)!r}")
    return p


def _as_video(frames: Tensor) -> Tensor:
    if isinstance(frames, Tensor) and frames.dim() > 4:
        return tile(frames).cpu()
    if isinstance(frames, Tensor):
        return frames.detach().cpu()
    raise TypeError(f"frames must be a uint8 tensor (..., T, H, W, 3); got {describe(frames)}")
