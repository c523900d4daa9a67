"""Text on pictures: one scalable font, measuring, and the caption strip of videos."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from videoattr.core.validation import check_positive_int

__all__ = ["DEFAULT_FONT_SIZE", "caption_strip", "font", "line_height", "text_size", "wrap"]

#: Default text height in pixels: readable next to 112-pixel cells.
DEFAULT_FONT_SIZE = 14

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_MEASURE = ImageDraw.Draw(Image.new("RGB", (1, 1)))


@lru_cache(maxsize=16)
def font(size: int = DEFAULT_FONT_SIZE) -> Font:
    """Pillow's bundled font at ``size`` pixels (the fixed bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def text_size(text: str, fnt: Font) -> tuple[int, int]:
    """``(width, height)`` in pixels of one line of ``text``."""
    left, top, right, bottom = _MEASURE.textbbox((0, 0), text, font=fnt)
    return int(right - left), int(bottom - min(top, 0))


def line_height(fnt: Font) -> int:
    """Height of a line of text including descenders and a little spacing."""
    return text_size("Ag|p(", fnt)[1] + 3


def wrap(text: str, width: int, fnt: Font) -> list[str]:
    """Break ``text`` at spaces into lines at most ``width`` pixels wide (a longer word stays whole)."""
    words = text.split(" ")
    out: list[str] = []
    line = ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if line and text_size(candidate, fnt)[0] > width:
            out.append(line)
            line = word
        else:
            line = candidate
    if line or not out:
        out.append(line)
    return out


def caption_strip(
    video: Tensor,
    lines: Sequence[Sequence[str]],
    *,
    font_size: int = DEFAULT_FONT_SIZE,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> Tensor:
    """Put a white strip with text above every frame of a video.

    Args:
        video: uint8 video ``(T, H, W, 3)``.
        lines: for every frame, its lines of text (top to bottom); all frames get the height of the
            longest list.
        font_size: text height in pixels; default 14.
        colors: RGB colour of each line (default black); a shorter list leaves later lines black.

    Returns:
        uint8 video ``(T, H + strip, W, 3)`` on the CPU.

    Raises:
        ValueError: ``lines`` does not hold one entry per frame.
    """
    t, _, w = video.shape[:3]
    if len(lines) != t:
        raise ValueError(f"lines must hold one list of lines per frame ({t}); got {len(lines)}")
    check_positive_int(font_size, "font_size")
    fnt = font(font_size)
    step = line_height(fnt)
    wrapped = [
        [
            (piece, colors[i] if colors is not None and i < len(colors) else (0, 0, 0))
            for i, text in enumerate(frame_lines)
            for piece in wrap(text, w - 6, fnt)
        ]
        for frame_lines in lines
    ]
    n = max((len(x) for x in wrapped), default=0)
    if n == 0:
        return video.cpu()
    height = n * step + 4
    strips = []
    for frame_lines in wrapped:
        image = Image.new("RGB", (w, height), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        for i, (text, color) in enumerate(frame_lines):
            draw.text((3, 2 + i * step), text, fill=color, font=fnt)
        strips.append(torch.from_numpy(np.array(image)))
    return torch.cat([torch.stack(strips), video.cpu()], dim=1)
