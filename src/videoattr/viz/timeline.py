"""The timeline of a whole video: the target's probability per sliding window over video time.

Layout (``render_timeline``; all sizes in pixels):

```text
    p(abseiling | window)   16-frame windows, stride 8                   <- title
     1 |          .--.                                  ▼ frames shown
       |   .-----'    '--.        .-----.               : (dashed lines)
   0.5 |--'               '------'       '---           p(target): blue,
       |                                                p(top class): grey
     0 +------------------------------------------------
       0 s        10 s        20 s        30 s   time (s)
    windows   ===  ===  ===  ===  ===                   <- extents, staggered rows
    top class [ abseiling   ][ juggling ][ abseiling ]  <- runs of the windows' top class
```

The curve joins the window centres (a dot per window); the ``windows`` strip draws every window's
extent, so one sees which frames each point stands for. Marks (``marks``: the video frames a sheet
shows) are dashed vertical lines with a triangle on top. With ``fps`` the axis is in seconds, else
in frames. Drawn with Pillow like the rest of `videoattr.viz`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from videoattr.core.validation import check_positive_int, describe
from videoattr.viz.picture import Picture
from videoattr.viz.text import DEFAULT_FONT_SIZE, Font, font, line_height, text_size

__all__ = [
    "Timeline",
    "nice_ticks",
    "render_timeline",
    "save_timeline",
    "timeline_strip",
    "with_cursor",
]

_TEXT = (0, 0, 0)
_AXIS = (90, 90, 90)
_GRID = (228, 228, 228)
_TARGET = (31, 119, 180)
_TOP = (160, 160, 160)
_MARK = (214, 39, 40)
_EXTENT = (120, 150, 190)
#: Colours of the top-class strip (class ``k`` gets colour ``k mod 10``).
CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)  # fmt: skip


@dataclass(frozen=True)
class Timeline(Picture):
    """A rendered timeline and where its parts are.

    Attributes:
        image: uint8 tensor ``(H, W, 3)`` on the CPU.
        plot: ``(top, left, height, width)`` of the plot area (probability 1 at its top, 0 at its
            bottom; video frame 0 at its left edge, frame ``N`` at its right edge).
        num_frames: ``N``, the frames the horizontal axis spans.
        points: ``(x, y)`` pixel of every window's point on the curve.
        marks: ``x`` pixel of every mark.
        title: the title line.
    """

    image: Tensor
    plot: tuple[int, int, int, int]
    num_frames: int
    points: tuple[tuple[int, int], ...]
    marks: tuple[int, ...]
    title: str

    def x_of(self, frame: float) -> int:
        """The pixel column of video frame ``frame`` (frame ``f`` spans ``[f, f + 1)``)."""
        _top, left, _, width = self.plot
        return left + round(frame / max(self.num_frames, 1) * (width - 1))

    def y_of(self, probability: float) -> int:
        """The pixel row of ``probability`` in ``[0, 1]``."""
        top, _, height, _ = self.plot
        return top + round((1.0 - probability) * (height - 1))

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return f"Timeline({w}x{h} px, windows={len(self.points)}, marks={len(self.marks)}, title={self.title!r})"


def nice_ticks(stop: float, most: int = 8) -> list[float]:
    """Round tick values ``0, d, 2d, ... <= stop`` with ``d`` in ``{1, 2, 5} x 10^k``, at most ``most``.

    Example:
        >>> nice_ticks(37.0)
        [0.0, 10.0, 20.0, 30.0]
        >>> nice_ticks(3000, most=6)
        [0.0, 1000.0, 2000.0, 3000.0]
    """
    if stop <= 0:
        return [0.0]
    raw = stop / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    count = math.floor(stop / step + 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def _values(value: object, name: str, w: int | None = None) -> list[float]:
    if isinstance(value, Tensor):
        value = value.detach().flatten().tolist()
    if isinstance(value, np.ndarray):
        value = value.ravel().tolist()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(
            f"{name} must be a sequence or 1-D tensor of numbers; got {describe(value)}"
        )
    out = [float(v) for v in value]
    if w is not None and len(out) != w:
        raise ValueError(f"{name} must have one entry per window ({w}); got {len(out)}")
    return out


def _tick_text(value: float, seconds: bool) -> str:
    text = f"{value:g}"
    return f"{text} s" if seconds else text


def render_timeline(
    window_starts: Sequence[int] | Tensor,
    window_ends: Sequence[int] | Tensor,
    target_probability: Sequence[float] | Tensor,
    *,
    num_frames: int,
    fps: float | None = None,
    target_name: str | None = None,
    top_probability: Sequence[float] | Tensor | None = None,
    top_names: Sequence[str] | None = None,
    marks: Sequence[int] = (),
    width: int = 720,
    plot_height: int = 120,
    subtitle: str | None = None,
    font_size: int = DEFAULT_FONT_SIZE,
) -> Timeline:
    """Draw the target's probability per window over the video's time (see the module layout).

    Args:
        window_starts: ``(W,)`` the first video frame of every window.
        window_ends: ``(W,)`` the last video frame of every window (inclusive).
        target_probability: ``(W,)`` the target's probability on every window, in ``[0, 1]``.
        num_frames: ``N``, the video's frames (the axis spans frames ``0 .. N``).
        fps: the video's frame rate; the axis is then in seconds. Default ``None`` (frames).
        target_name: the target's name for the title. Default ``None`` (``"target"``).
        top_probability: ``(W,)`` the probability of every window's top class, drawn in grey.
            Default ``None`` (not drawn).
        top_names: ``(W,)`` the name of every window's top class: the ``top class`` strip shows
            the runs of equal names. Default ``None`` (no strip).
        marks: video frames to mark (e.g. the frames a sheet shows). Default none.
        width: the picture's width in pixels, ``>= 240``. Default 720.
        plot_height: the plot area's height in pixels, ``>= 40``. Default 120.
        subtitle: text after the title (e.g. ``"16-frame windows, stride 8"``). Default none.
        font_size: text height in pixels. Default 14.

    Returns:
        The [`Timeline`][videoattr.viz.timeline.Timeline].

    Raises:
        ValueError: lengths that differ, no window, probabilities outside ``[0, 1]`` or a window
            outside the video.

    Example:
        >>> tl = render_timeline([0, 8, 16], [15, 23, 31], [0.1, 0.8, 0.4], num_frames=32,
        ...                      fps=8.0, target_name="abseiling")
        >>> tl.title
        'p(abseiling | window)'
    """
    starts = [int(v) for v in _values(window_starts, "window_starts")]
    w_count = len(starts)
    if w_count == 0:
        raise ValueError("window_starts must hold at least one window; got none")
    ends = [int(v) for v in _values(window_ends, "window_ends", w_count)]
    probs = _values(target_probability, "target_probability", w_count)
    tops = None if top_probability is None else _values(top_probability, "top_probability", w_count)
    n = check_positive_int(num_frames, "num_frames")
    width = check_positive_int(width, "width", minimum=240)
    plot_height = check_positive_int(plot_height, "plot_height", minimum=40)
    for name, values in (("target_probability", probs), ("top_probability", tops or [])):
        bad = [v for v in values if not -1e-6 <= v <= 1 + 1e-6]
        if bad:
            raise ValueError(f"{name} must lie in [0, 1]; got {bad[:3]}")
    if any(s < 0 or e < s for s, e in zip(starts, ends, strict=True)):
        raise ValueError("every window must have 0 <= start <= end")
    if top_names is not None and len(top_names) != w_count:
        raise ValueError(
            f"top_names must have one entry per window ({w_count}); got {len(top_names)}"
        )
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive; got {fps!r}")
    fnt = font(check_positive_int(font_size, "font_size"))
    small = font(max(8, font_size - 3))
    step = line_height(fnt)

    title = f"p({target_name if target_name is not None else 'target'} | window)"
    y_labels = ["1", "0.5", "0"]
    margin_left = max(text_size(s, fnt)[0] for s in [*y_labels, "top class"]) + 12
    margin_right = 16
    top = 4 + step + 6 + step  # the title, then the legend line
    plot = (top, margin_left, plot_height, width - margin_left - margin_right)
    _, left, _, plot_w = plot
    rows_of_extents = min(4, max(1, _overlap_rows(starts, ends)))
    extent_top = top + plot_height + 4 + step + 4
    strip_top = extent_top + rows_of_extents * 5 + 6
    height = strip_top + (step + 6 if top_names is not None else 0) + 4

    def x_of(frame: float) -> int:
        return left + round(frame / n * (plot_w - 1))

    def y_of(p: float) -> int:
        return top + round((1.0 - min(max(p, 0.0), 1.0)) * (plot_height - 1))

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    # title and legend
    draw.text((4, 4), title, fill=_TEXT, font=fnt)
    if subtitle:
        draw.text((4 + text_size(title, fnt)[0] + 16, 4), subtitle, fill=_AXIS, font=fnt)
    legend_y = 4 + step + 2
    lx = left
    lx = _legend(draw, lx, legend_y, _TARGET, "p(target)", fnt, step)
    if tops is not None:
        lx = _legend(draw, lx, legend_y, _TOP, "p(top class of the window)", fnt, step)
    if marks:
        draw.polygon(_triangle(lx + 6, legend_y + 3), fill=_MARK)
        draw.text((lx + 16, legend_y), "frames shown in the sheet", fill=_TEXT, font=fnt)
    # grid and axes
    for p, label in zip((1.0, 0.5, 0.0), y_labels, strict=True):
        y = y_of(p)
        draw.line([(left, y), (left + plot_w - 1, y)], fill=_GRID if p > 0 else _AXIS, width=1)
        tw, th = text_size(label, fnt)
        draw.text((left - tw - 6, y - th // 2 - 1), label, fill=_TEXT, font=fnt)
    draw.line([(left, top), (left, top + plot_height - 1)], fill=_AXIS, width=1)
    seconds = fps is not None
    total = n / fps if fps is not None else float(n)
    unit = "time (s)" if seconds else "frame"
    unit_w = text_size(unit, fnt)[0]
    most = max(2, min(10, plot_w // 80))
    ticks = nice_ticks(total, most)
    axis_y = top + plot_height
    for value in ticks:
        x = x_of(value * fps if fps is not None else value)
        draw.line([(x, axis_y - 1), (x, axis_y + 3)], fill=_AXIS, width=1)
        text = _tick_text(value, seconds)
        tw = text_size(text, fnt)[0]
        tx = min(max(x - tw // 2, left - tw // 2), width - tw - 2)
        if tx + tw < left + plot_w - unit_w - 8 or value == ticks[0]:
            draw.text((tx, axis_y + 4), text, fill=_TEXT, font=fnt)
    draw.text((left + plot_w - unit_w, axis_y + 4), unit, fill=_AXIS, font=fnt)
    # marks
    mark_xs = []
    for frame in marks:
        x = x_of(int(frame) + 0.5)
        mark_xs.append(x)
        for y in range(top, top + plot_height, 6):
            draw.line([(x, y), (x, min(y + 2, top + plot_height - 1))], fill=_MARK, width=1)
        draw.polygon(_triangle(x, top - 7), fill=_MARK)
    # curves: the top class (grey) under the target (blue)
    centres = [x_of((s + min(e, n - 1) + 1) / 2) for s, e in zip(starts, ends, strict=True)]
    if tops is not None:
        draw.line([(x, y_of(p)) for x, p in zip(centres, tops, strict=True)], fill=_TOP, width=2)
    points = [(x, y_of(p)) for x, p in zip(centres, probs, strict=True)]
    if len(points) > 1:
        draw.line(points, fill=_TARGET, width=2, joint="curve")
    radius = 3 if w_count <= plot_w // 8 else (2 if w_count <= plot_w // 4 else 0)
    for x, y in points:
        if radius:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=_TARGET)
        elif len(points) == 1:
            draw.point((x, y), fill=_TARGET)
    # window extents, staggered
    draw.text((4, extent_top - 4), "windows", fill=_TEXT, font=small)
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        y = extent_top + (k % rows_of_extents) * 5
        draw.line(
            [(x_of(s), y), (max(x_of(min(e, n - 1) + 1) - 3, x_of(s)), y)], fill=_EXTENT, width=3
        )
    # the top class's runs
    if top_names is not None:
        draw.text((4, strip_top + 2), "top class", fill=_TEXT, font=fnt)
        for name, a, b in _runs(list(top_names), starts, ends, n):
            x0, x1 = x_of(a), max(x_of(b) - 1, x_of(a))
            colour = CLASS_COLOURS[_colour_index(name, list(top_names))]
            draw.rectangle([x0, strip_top, x1, strip_top + step + 2], fill=colour)
            if text_size(name, small)[0] + 4 <= x1 - x0:
                draw.text((x0 + 3, strip_top + 3), name, fill=_TEXT, font=small)
    return Timeline(
        image=torch.from_numpy(np.array(image)),
        plot=plot,
        num_frames=n,
        points=tuple(points),
        marks=tuple(mark_xs),
        title=title,
    )


def _legend(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    colour: tuple[int, int, int],
    text: str,
    fnt: Font,
    step: int,
) -> int:
    mid = y + step // 2 - 1
    draw.line([(x, mid), (x + 18, mid)], fill=colour, width=3)
    draw.text((x + 24, y), text, fill=_TEXT, font=fnt)
    return x + 24 + text_size(text, fnt)[0] + 18


def _triangle(x: int, y: int) -> list[tuple[int, int]]:
    return [(x - 5, y), (x + 5, y), (x, y + 6)]


def _overlap_rows(starts: list[int], ends: list[int]) -> int:
    """The most windows covering one frame: rows enough for the extents not to touch."""
    most = 1
    for s in starts:
        most = max(most, sum(1 for a, b in zip(starts, ends, strict=True) if a <= s <= b))
    return most


def _colour_index(name: str, names: list[str]) -> int:
    return sorted(set(names)).index(name) % len(CLASS_COLOURS)


def _runs(
    names: list[str], starts: list[int], ends: list[int], n: int
) -> list[tuple[str, float, float]]:
    """Runs of equal top-class names as ``(name, first frame, end frame)``; a frame shared by two
    windows goes to the later one from the middle of their overlap on."""
    centres = [(s + min(e, n - 1) + 1) / 2 for s, e in zip(starts, ends, strict=True)]
    bounds = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(centres)] + [float(n)]
    runs: list[tuple[str, float, float]] = []
    for k, name in enumerate(names):
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1], bounds[k + 1])
        else:
            runs.append((name, bounds[k], bounds[k + 1]))
    return runs


def save_timeline(path: str | Path, *args: object, **options: object) -> Timeline:
    """[`render_timeline`][videoattr.viz.timeline.render_timeline] and save the picture to ``path``."""
    timeline = render_timeline(*args, **options)  # type: ignore[arg-type]
    timeline.save(path)
    return timeline


def timeline_strip(
    window_starts: Sequence[int] | Tensor,
    window_ends: Sequence[int] | Tensor,
    target_probability: Sequence[float] | Tensor,
    *,
    num_frames: int,
    width: int,
    height: int = 24,
) -> Tensor:
    """A small timeline to put under a video: ``p(target | window)`` as a filled curve, no text.

    Column ``x`` stands for video frame ``x * N / width``; the curve joins the window centres as in
    [`render_timeline`][videoattr.viz.timeline.render_timeline], probability 1 at the top. Put the
    current frame on it with [`with_cursor`][videoattr.viz.timeline.with_cursor].

    Args:
        window_starts: ``(W,)`` first video frame of every window.
        window_ends: ``(W,)`` last video frame of every window (inclusive).
        target_probability: ``(W,)`` in ``[0, 1]``.
        num_frames: ``N``.
        width: the strip's width in pixels (the video's).
        height: the strip's height in pixels, ``>= 8``. Default 24.

    Returns:
        uint8 image ``(height, width, 3)``.
    """
    starts = [int(v) for v in _values(window_starts, "window_starts")]
    if not starts:
        raise ValueError("window_starts must hold at least one window; got none")
    ends = [int(v) for v in _values(window_ends, "window_ends", len(starts))]
    probs = _values(target_probability, "target_probability", len(starts))
    n = check_positive_int(num_frames, "num_frames")
    width = check_positive_int(width, "width")
    height = check_positive_int(height, "height", minimum=8)
    centres = [(s + min(e, n - 1) + 1) / 2 for s, e in zip(starts, ends, strict=True)]
    frames = (np.arange(width) + 0.5) * n / width
    curve = np.interp(frames, centres, probs)
    tops = np.round((1.0 - np.clip(curve, 0.0, 1.0)) * (height - 2)).astype(int) + 1
    image = np.full((height, width, 3), 246, dtype=np.uint8)
    rows = np.arange(height)[:, None]
    filled = rows >= tops[None, :]
    image[filled] = (174, 199, 232)
    image[tops, np.arange(width)] = _TARGET
    image[0] = image[-1] = 200
    return torch.from_numpy(image)


def with_cursor(strip: Tensor, frame: int, num_frames: int) -> Tensor:
    """A copy of a [`timeline_strip`][videoattr.viz.timeline.timeline_strip] with a red line at
    video frame ``frame`` (of ``num_frames``)."""
    out = strip.clone()
    width = out.shape[1]
    x = min(width - 1, int((frame + 0.5) * width / max(num_frames, 1)))
    out[:, x] = torch.tensor(_MARK, dtype=torch.uint8)
    return out
