"""Inline display in notebooks: [`show`][videoattr.viz.display.show] returns an
[`Animation`][videoattr.viz.display.Animation] that Jupyter draws as an animated GIF (or an HTML5
video), embedded in the notebook as base64, so a saved notebook shows it without any file beside
it. No matplotlib and no IPython import: the rich display is the ``_repr_html_`` protocol.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import Tensor

from videoattr.core.validation import check_choice, describe
from videoattr.viz.style import OverlayStyle, SheetCaption
from videoattr.viz.text import DEFAULT_FONT_SIZE
from videoattr.viz.writers import panels, save_gif, save_mp4

__all__ = ["Animation", "show"]

AnimationFormat = Literal["gif", "mp4"]


@dataclass(frozen=True, repr=False)
class Animation:
    """A short video for inline display.

    Attributes:
        frames: uint8 video ``(T, H, W, 3)`` on the CPU.
        fps: frames per second.
        format: ``"gif"`` (an ``<img>``, plays everywhere) or ``"mp4"`` (an HTML5 ``<video>``).
    """

    frames: Tensor
    fps: float = 8.0
    format: AnimationFormat = "gif"

    def __post_init__(self) -> None:
        f = self.frames
        if (
            not isinstance(f, Tensor)
            or f.dim() != 4
            or f.shape[-1] != 3
            or f.dtype.is_floating_point
        ):
            raise ValueError(f"frames must be a uint8 video (T, H, W, 3); got {describe(f)}")
        check_choice(self.format, "format", ("gif", "mp4"))
        if not self.fps > 0:
            raise ValueError(f"fps must be positive; got {self.fps!r}")

    def save(self, path: str | Path) -> Path:
        """Write the animation; the ending (``.gif`` or ``.mp4``) picks the format."""
        p = Path(path)
        if p.suffix.lower() == ".mp4":
            return save_mp4(p, self.frames, self.fps)
        return save_gif(p, self.frames, self.fps)

    def encode(self) -> bytes:
        """The animation's file contents in its ``format``."""
        with tempfile.TemporaryDirectory() as tmp:
            path = self.save(Path(tmp) / f"animation.{self.format}")
            return path.read_bytes()

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the encoded file embedded as base64."""
        data = base64.b64encode(self.encode()).decode("ascii")
        t, h, w = self.frames.shape[:3]
        if self.format == "mp4":
            return (
                f'<video width="{w}" height="{h}" autoplay loop muted controls>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>'
            )
        return f'<img width="{w}" height="{h}" alt="animation of {t} frames" src="data:image/gif;base64,{data}"/>'

    def __repr__(self) -> str:
        t, h, w = self.frames.shape[:3]
        return f"Animation({t} frames of {w}x{h} px, fps={self.fps:g}, format={self.format!r})"


def show(
    clip: Tensor,
    maps: Tensor,
    preserved: Tensor | None = None,
    *,
    style: OverlayStyle | None = None,
    caption: SheetCaption | str | None = None,
    clip_index: int = 0,
    scale: int | None = None,
    fps: float = 8.0,
    format: AnimationFormat = "gif",
    font_size: int = DEFAULT_FONT_SIZE,
) -> Animation:
    """An inline animation of one clip: input | maps over it | preserved clip, with a caption.

    Args:
        clip: uint8 frames ``(B, T, H, W, 3)`` / ``(T, H, W, 3)`` or the float clip
            ``(B, C, T, H, W)`` given to the attributor (de-normalised with the style's
            ``mean``/``std``).
        maps: ``(B, A, T, H, W)`` maps or masks from an attributor, or one ``(T, H, W)`` map.
        preserved: optional perturbed clip, as for [`panels`][videoattr.viz.writers.panels].
        style: the [`OverlayStyle`][videoattr.viz.style.OverlayStyle]; default ``OverlayStyle()``.
        caption: a [`SheetCaption`][videoattr.viz.style.SheetCaption] or a line of text for the
            strip above the video; default ``None``: the strip shows only the frame number.
        clip_index: which clip of a batch to show; default 0.
        scale: integer magnification; default ``None``: 2 for clips under 96 pixels, else 1.
        fps: frames per second; default 8.
        format: ``"gif"`` (default) or ``"mp4"``.
        font_size: text height of the strip in pixels; default 14.

    Returns:
        The [`Animation`][videoattr.viz.display.Animation]; the last expression of a notebook cell
        displays it.

    Example:
        >>> import torch
        >>> anim = show(torch.zeros(4, 8, 8, 3, dtype=torch.uint8), torch.rand(4, 8, 8))
        >>> anim.frames.shape[0], anim._repr_html_().startswith("<img")
        (4, True)
    """
    if not isinstance(clip, Tensor) or not isinstance(maps, Tensor):
        raise TypeError(f"clip and maps must be tensors; got {describe(clip)} and {describe(maps)}")
    batched = maps.dim() == 5
    if batched:
        i = clip_index
        if not 0 <= i < maps.shape[0]:
            raise ValueError(f"clip_index must be in [0, {maps.shape[0]}); got {i}")
        maps = maps[i : i + 1]
        if clip.dim() == 5:
            clip = clip[min(i, clip.shape[0] - 1)].unsqueeze(0)
        if preserved is not None:
            preserved = preserved[i : i + 1]
    height = maps.shape[-2]
    if scale is None:
        scale = 2 if height < 96 else 1
    video = panels(
        clip,
        maps,
        preserved,
        style=style,
        caption=caption if caption is not None else "",
        scale=scale,
        font_size=font_size,
    )
    return Animation(video.cpu(), fps=fps, format=format)
