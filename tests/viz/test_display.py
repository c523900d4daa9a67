"""Tests of the notebook displays: Sheet as PNG, show() as an embedded animation, short reprs."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from videoattr.viz import Animation, OverlayStyle, SheetCaption, render_sheet, show

T, H, W = 4, 8, 10


def frames() -> torch.Tensor:
    return torch.randint(
        0, 256, (1, T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_sheet_displays_as_png_with_a_short_repr() -> None:
    sheet = render_sheet(frames(), torch.rand(1, 2, T, H, W), caption=SheetCaption(target="x"))
    data = sheet._repr_png_()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = torch.from_numpy(np.array(Image.open(io.BytesIO(data)).convert("RGB")))
    assert torch.equal(decoded, sheet.image)
    text = repr(sheet)
    assert len(text) < 300 and "tensor(" not in text
    assert f"frames={T}" in text and "'heatmap 0'" in text and "target: x" in text


def _embedded(html: str, kind: str) -> bytes:
    match = re.search(rf"data:{kind};base64,([A-Za-z0-9+/=]+)", html)
    assert match is not None, html[:200]
    return base64.b64decode(match.group(1))


def test_show_returns_an_inline_gif_of_every_frame() -> None:
    maps = torch.rand(2, 1, T, H, W)
    clip = frames().expand(2, -1, -1, -1, -1)
    anim = show(clip, maps, caption=SheetCaption(method="saliency", target="x"), clip_index=1)
    assert isinstance(anim, Animation)
    html = anim._repr_html_()
    assert html.startswith("<img")
    gif = Image.open(io.BytesIO(_embedded(html, "image/gif")))
    assert gif.n_frames == T
    assert gif.size == (anim.frames.shape[2], anim.frames.shape[1])
    # Small clips are magnified (2x under 96 px) and get a caption strip on top.
    assert anim.frames.shape[1] > 2 * H and anim.frames.shape[2] >= 2 * (2 * W)
    text = repr(anim)
    assert text == f"Animation({T} frames of {gif.size[0]}x{gif.size[1]} px, fps=8, format='gif')"
    with pytest.raises(ValueError, match=r"clip_index must be in \[0, 2\)"):
        show(clip, maps, clip_index=2)


def test_show_as_html5_video_and_save(tmp_path: object) -> None:
    style = OverlayStyle(value_range=(0, 1))
    anim = show(frames(), torch.rand(1, 1, T, H, W), style=style, format="mp4", scale=1)
    html = anim._repr_html_()
    assert html.startswith("<video")
    assert _embedded(html, "video/mp4")[4:8] == b"ftyp"
    with pytest.raises(ValueError, match="frames must be a uint8 video"):
        Animation(torch.zeros(2, 3, 3))
