"""Tests of the sheet header (SheetCaption), OverlayStyle, frame labels, colour bar and caption strips."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import ImageDraw

from videoattr.viz import (
    OverlayStyle,
    SheetCaption,
    overlay,
    panels,
    render_sheet,
)
from videoattr.viz.sheet import auto_scale
from videoattr.viz.writers import strip_lines

T, H, W = 3, 6, 8
VIRIDIS_1 = (0xFD, 0xE7, 0x25)  # viridis at 1 (#fde725)
VIRIDIS_0 = (0x44, 0x01, 0x54)  # viridis at 0 (#440154)
CAPTION = SheetCaption(
    target="abseiling",
    target_probability=0.0031,
    prediction="juggling",
    prediction_probability=0.4,
    method="step",
    settings={"area": 0.1, "iterations": 300},
    preserved_probability=0.25,
    random_weights=True,
)


def grey_frames(level: int = 128) -> torch.Tensor:
    return torch.full((1, T, H, W, 3), level, dtype=torch.uint8)


def ramp_maps() -> torch.Tensor:
    return torch.linspace(0, 1, W).expand(1, 1, T, H, W).clone()


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every string handed to Pillow's text renderer while the test runs."""
    texts: list[str] = []
    original = ImageDraw.ImageDraw.text

    def record(
        self: ImageDraw.ImageDraw, xy: object, text: str, *args: object, **kw: object
    ) -> None:
        texts.append(text)
        original(self, xy, text, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    yield texts


def test_header_names_target_prediction_method_and_random_weights(drawn: list[str]) -> None:
    sheet = render_sheet(grey_frames(), ramp_maps(), caption=CAPTION, scale=4)
    header = "\n".join(t for t in drawn if "frame" not in t)
    for expected in (
        "target: abseiling",
        "p(target | clip) = 0.003",
        "prediction: juggling",
        "p(prediction | clip) = 0.400",
        "method: step",
        "area=0.1, iterations=300",
        "p(target | preserved) = 0.250",
        SheetCaption.RANDOM_WEIGHTS_NOTE,
    ):
        assert expected in header
        assert expected in sheet.captions[0]
    assert "score" not in header  # every number is named by what it measures


def test_random_weights_note_is_red_and_only_when_set() -> None:
    def red_pixels(caption: SheetCaption) -> int:
        image = render_sheet(grey_frames(), ramp_maps(), caption=caption, scale=4).image
        head = image[:60].int()
        return int(((head[..., 0] > 150) & (head[..., 1] < 80) & (head[..., 2] < 80)).sum())

    assert red_pixels(CAPTION) > 20
    assert red_pixels(SheetCaption(target="x", target_probability=0.5)) == 0
    assert SheetCaption.RANDOM_WEIGHTS_NOTE not in SheetCaption(target="x").text()


def test_one_caption_per_clip_and_type_errors() -> None:
    frames = grey_frames().expand(2, -1, -1, -1, -1)
    maps = torch.rand(2, 1, T, H, W)
    caps = [SheetCaption(target="a"), SheetCaption(target="b", random_weights=True)]
    sheet = render_sheet(frames, maps, caption=caps, scale=1)
    assert sheet.captions[0] == "target: a"
    assert sheet.captions[1].startswith("target: b") and "RANDOM WEIGHTS" in sheet.captions[1]
    with pytest.raises(TypeError, match="caption must be a SheetCaption"):
        render_sheet(frames, maps, caption=["a", "b"])  # type: ignore[list-item]


def test_colour_bar_shows_the_colormap_and_the_value_range(drawn: list[str]) -> None:
    style = OverlayStyle(cmap="viridis", value_range=(0.0, 2.0))
    sheet = render_sheet(grey_frames(), ramp_maps(), style=style, scale=4)
    assert sheet.colorbar is not None
    top, left, height, width = sheet.colorbar
    bar = sheet.image[top : top + height, left : left + width]
    assert bar[:, 0].tolist() == [list(VIRIDIS_0)] * height
    assert bar[:, -1].tolist() == [list(VIRIDIS_1)] * height
    assert {"0", "1", "2"} <= set(drawn)  # lo, mid, hi of the value range
    # One map scaled on its own: its own numbers; several maps: per-map scaling says so instead
    # of inventing numbers; no bar when asked for none.
    drawn.clear()
    one = render_sheet(grey_frames(), 3 * ramp_maps() + 1, scale=4)
    assert one.colorbar_ticks == ("1", "", "4") and {"1", "4"} <= set(drawn)
    assert one.colorbar_note == "each map from its minimum to its maximum"
    drawn.clear()
    two = render_sheet(grey_frames(), ramp_maps().expand(1, 2, T, H, W), scale=4)
    assert "min (per map)" in drawn and "max (per map)" in drawn
    assert two.colorbar_ticks == ("min (per map)", "", "max (per map)")
    assert render_sheet(grey_frames(), ramp_maps(), colorbar=False).colorbar is None


def test_frame_labels_and_times() -> None:
    sheet = render_sheet(grey_frames(), ramp_maps(), frame_indices=[0, 2, 4], scale=8)
    assert sheet.frame_labels == ("frame 0", "frame 2", "frame 4")
    timed = render_sheet(grey_frames(), ramp_maps(), frame_indices=[0, 2, 4], fps=8.0, scale=8)
    assert timed.frame_labels == ("t=0.00s", "t=0.25s", "t=0.50s")
    narrow = render_sheet(grey_frames(), ramp_maps(), scale=1)  # 8 px cells: numbers only
    assert narrow.frame_labels == ("0", "1", "2")
    with pytest.raises(ValueError, match="frame_indices must have 3 entries"):
        render_sheet(grey_frames(), ramp_maps(), frame_indices=[0, 1])


def test_automatic_scale_makes_small_inputs_readable() -> None:
    assert auto_scale(56) == 2 and auto_scale(112) == 1 and auto_scale(224) == 1
    assert auto_scale(6) == 8  # capped
    sheet = render_sheet(torch.zeros(2, 56, 56, 3, dtype=torch.uint8), torch.rand(2, 56, 56))
    assert sheet.cell_size == (112, 112)


def test_style_and_the_old_keyword_arguments_give_the_same_pixels() -> None:
    frames, maps = grey_frames(), torch.rand(1, 1, T, H, W)
    style = OverlayStyle(cmap="viridis", alpha=0.7, polarity="positive")
    new = render_sheet(frames, maps, style=style, scale=1).image
    old = render_sheet(frames, maps, cmap="viridis", alpha=0.7, polarity="positive", scale=1).image
    assert torch.equal(new, old)
    # A keyword argument overrides the style's field.
    assert torch.equal(
        overlay(frames, maps, style=style, alpha=1.0),
        overlay(frames, maps, style=style.replace(alpha=1.0)),
    )
    assert not torch.equal(overlay(frames, maps, style=style), overlay(frames, maps, alpha=1.0))


def test_style_validation() -> None:
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        OverlayStyle(alpha=1.5)
    with pytest.raises(ValueError, match="value_range must be"):
        OverlayStyle(value_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="polarity"):
        OverlayStyle(polarity="sideways")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="style must be an OverlayStyle"):
        overlay(grey_frames(), ramp_maps(), style={"alpha": 1})  # type: ignore[call-overload]
    assert OverlayStyle(polarity="signed").colormap == "bwr"
    assert OverlayStyle(mean=[0.5, 0.5, 0.5]).mean == (0.5, 0.5, 0.5)


def test_caption_strip_on_videos() -> None:
    frames, maps = grey_frames(), ramp_maps()
    plain = panels(frames, maps, pad=2, scale=1)
    video = panels(frames, maps, caption=CAPTION, pad=2, scale=1, labels=False, colorbar=False)
    assert video.shape[0] == T and video.shape[2] == plain.shape[2]
    strip = video.shape[1] - plain.shape[1]
    assert strip > 3 * 10  # warning, method/target and frame lines
    assert torch.equal(video[:, strip:], plain)  # the strip sits on top, the panels are unchanged
    assert int(video[:, :strip].min()) < 100  # text was written
    assert not torch.equal(video[0, :strip], video[1, :strip])  # each frame names its number
    lines = strip_lines(CAPTION, 3, frame_indices=[0, 2, 4], fps=8.0)
    assert lines[1] == [
        SheetCaption.RANDOM_WEIGHTS_SHORT,
        "step | target: abseiling",
        "frame 2   t = 0.25 s",
    ]
    assert strip_lines("hello", 2)[1] == ["hello", "frame 1 of 0-1"]  # from 0, as on sheets


def test_videos_name_their_panels_and_draw_the_colour_bar(drawn: list[str]) -> None:
    frames = grey_frames()
    maps = ramp_maps().expand(1, 2, T, H, W) - 0.25  # signed
    kept = torch.full((1, 2, T, H, W, 3), 30, dtype=torch.uint8)
    bare = panels(frames, maps, kept, pad=2, scale=8)
    video = panels(frames, maps, kept, caption=CAPTION, pad=2, scale=8, map_names=["a1", "a2"])
    text = " ".join(drawn)  # long names are wrapped to the panel's width
    for name in ("input", "a1", "a2", "preserved a1", "preserved a2", "colour", "+max|map|"):
        assert name in text
    assert any(text.startswith("signed, centred on 0") for text in drawn)
    # Caption strip and panel names on top, colour bar at the bottom; the panels themselves as
    # without them, and the same in every frame outside the strip's frame number.
    extra = video.shape[1] - bare.shape[1]
    rows = [
        top
        for top in range(extra + 1)
        if torch.equal(video[:, top : top + bare.shape[1], : bare.shape[2]], bare)
    ]
    assert len(rows) == 1 and rows[0] > 3 * 10
    bottom = video[:, rows[0] + bare.shape[1] :]
    assert bottom.shape[1] > 14 and torch.equal(bottom[0], bottom[-1])
    blue_red = bottom[0].int()
    assert bool(((blue_red[..., 2] == 255) & (blue_red[..., 0] == 0)).any())  # bwr's blue end
    assert bool(((blue_red[..., 0] == 255) & (blue_red[..., 2] == 0)).any())  # and its red end


def test_videos_are_readable_by_default() -> None:
    # 56-pixel clips (the demo model's) are magnified like the sheets: panels at least 96 high.
    frames = torch.full((1, 2, 56, 56, 3), 128, dtype=torch.uint8)
    video = panels(frames, torch.rand(1, 1, 2, 56, 56))
    assert video.shape[1:3] == (112, 2 * 112 + 2 * 2)
    assert auto_scale(56) == 2


def test_scaled_panels_are_a_nearest_neighbour_magnification() -> None:
    frames, maps = grey_frames(), ramp_maps()
    plain = panels(frames, maps, pad=2, scale=1)
    big = panels(frames, maps, pad=2, scale=3)
    assert torch.equal(big[:, ::3, ::3], plain)


def test_overlay_takes_numpy_and_returns_numpy() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((H, W, 3), dtype=np.float32)  # show_cam_on_image style: float in [0, 1]
    cam = rng.random((H, W), dtype=np.float32)
    out = overlay(image, cam, value_range=(0, 1), alpha=0.5)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (H, W, 3)
    # Same as the tensor path on the uint8 version of the image.
    as_uint8 = torch.from_numpy((image * 255).round().astype(np.uint8))
    reference = overlay(as_uint8[None], torch.from_numpy(cam)[None], value_range=(0, 1))
    assert np.array_equal(out, reference[0].numpy())
    # uint8 numpy frames (T, H, W, 3) with a (T, H, W) tensor map: numpy back, same values.
    frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    maps = torch.rand(T, H, W)
    got = overlay(frames, maps)
    assert isinstance(got, np.ndarray)
    assert np.array_equal(got, overlay(torch.from_numpy(frames), maps).numpy())
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        overlay(image * 255, cam)
    with pytest.raises(TypeError, match="torch tensor or a numpy array"):
        overlay([[0]], cam)  # type: ignore[call-overload]


def test_caption_from_probabilities() -> None:
    probs = torch.tensor([0.1, 0.6, 0.3])
    cap = SheetCaption.from_probabilities(
        probs, 2, class_names=["a", "b", "c"], method="ig", random_weights=True
    )
    assert (cap.target, cap.prediction, cap.method, cap.random_weights) == ("c", "b", "ig", True)
    assert cap.target_probability == pytest.approx(0.3)
    assert cap.prediction_probability == pytest.approx(0.6)
    assert SheetCaption.from_probabilities([0.9, 0.1], 1).prediction == 0  # indices without names
    with pytest.raises(ValueError, match=r"target must be a class index in \[0, 3\)"):
        SheetCaption.from_probabilities(probs, 3)
