"""Tests of videoattr.viz.sheet: layout, pixels under the mask, captions, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tests.helpers import clip as random_clip
from videoattr.viz import SheetCaption, render_sheet, save_sheet
from videoattr.viz.colormaps import luminance

T, H, W = 3, 6, 8
VIRIDIS_1 = (0xFD, 0xE7, 0x25)  # viridis at 1 (#fde725)
VIRIDIS_0 = (0x44, 0x01, 0x54)  # viridis at 0 (#440154)


@pytest.fixture
def drawn_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every string handed to Pillow's text renderer while the test runs."""
    texts: list[str] = []
    original = ImageDraw.ImageDraw.text

    def record(
        self: ImageDraw.ImageDraw, xy: object, text: str, *args: object, **kw: object
    ) -> None:
        texts.append(text)
        original(self, xy, text, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    return texts


def grey_frames(level: int = 128) -> torch.Tensor:
    return torch.full((1, T, H, W, 3), level, dtype=torch.uint8)


def half_mask() -> torch.Tensor:
    """(1, 1, T, H, W) mask: 1 on the left half of every frame, 0 on the right half."""
    mask = torch.zeros(1, 1, T, H, W)
    mask[..., : W // 2] = 1.0
    return mask


def test_pixels_under_the_mask_follow_the_colormap() -> None:
    sheet = render_sheet(
        grey_frames(), half_mask(), cmap="viridis", alpha=1.0, value_range=(0, 1), scale=1
    )
    for col in range(T):
        cell = sheet.cell("heatmap", col)
        assert cell.shape == (H, W, 3)
        assert bool((cell[:, : W // 2] == torch.tensor(VIRIDIS_1, dtype=torch.uint8)).all())
        assert bool((cell[:, W // 2 :] == torch.tensor(VIRIDIS_0, dtype=torch.uint8)).all())
        assert bool((sheet.cell("input", col) == 128).all())
    # Where the mask is 1 the overlay is brighter than where it is 0 (viridis rises in luminance).
    cell = sheet.cell("heatmap", 0).float() / 255
    assert luminance(cell[0, 0]) > luminance(cell[0, -1])


def test_blending_on_the_sheet() -> None:
    sheet = render_sheet(
        grey_frames(), half_mask(), cmap="viridis", alpha=0.25, value_range=(0, 1), scale=1
    )
    cell = sheet.cell("heatmap", 1)
    # 0.75 * 128 + 0.25 * colour, rounded: no ties for these values.
    left = [round(0.75 * 128 + 0.25 * c) for c in VIRIDIS_1]
    right = [round(0.75 * 128 + 0.25 * c) for c in VIRIDIS_0]
    assert cell[2, 1].tolist() == left and cell[2, W - 1].tolist() == right


def test_rows_captions_and_preserved() -> None:
    preserved = torch.full((1, T, H, W, 3), 30, dtype=torch.uint8)
    sheet = render_sheet(
        grey_frames(),
        half_mask(),
        preserved,
        caption=SheetCaption(target="juggling", target_probability=0.9123),
        scale=1,
    )
    assert sheet.row_names == ("input", "heatmap", "preserved")
    assert sheet.captions == ("target: juggling   p(target | clip) = 0.912",)
    assert bool((sheet.cell("preserved", 2) == 30).all())
    image = sheet.image
    # The caption sits above the first row and draws dark text on the white background.
    caption = image[: sheet.row_tops[0]]
    assert sheet.row_tops[0] > 8 and int(caption.min()) < 128
    assert image.shape[1] >= sheet.col_lefts[-1] + W
    # Row names are written in the left margin next to each row.
    for top in sheet.row_tops:
        assert int(image[top : top + H, : sheet.col_lefts[0]].min()) < 128
    other = render_sheet(
        grey_frames(), half_mask(), preserved, caption=SheetCaption("yoga", 0.9123), scale=1
    )
    width = min(image.shape[1], other.image.shape[1])
    assert other.row_tops == sheet.row_tops
    assert not torch.equal(other.image[: other.row_tops[0], :width], caption[:, :width])


def test_no_caption_without_label_or_score() -> None:
    sheet = render_sheet(grey_frames(), half_mask(), pad=3, scale=1)
    with_caption = render_sheet(
        grey_frames(), half_mask(), pad=3, scale=1, caption=SheetCaption(target="x")
    )
    assert sheet.captions == ("",) and sheet.row_tops[0] < with_caption.row_tops[0]


def test_batches_areas_and_scale() -> None:
    clip = random_clip(b=2, t=T, h=H, w=W)
    maps = torch.rand(2, 2, T, H, W)
    perturbed = random_clip(b=2, t=T, h=H, w=W, seed=1)
    sheet = render_sheet(
        clip,
        maps,
        perturbed,
        caption=[SheetCaption("a", 0.5), SheetCaption("b", 0.25)],
        map_names=["5%", "10%"],
        scale=2,
    )
    assert sheet.row_names == ("input", "5%", "10%", "preserved") * 2
    assert sheet.row_clips == (0, 0, 0, 0, 1, 1, 1, 1)
    assert sheet.cell_size == (2 * H, 2 * W)
    cell = sheet.cell("input", 0, clip=1)
    assert torch.equal(cell[::2, ::2], cell[1::2, 1::2])  # nearest-neighbour magnification
    with pytest.raises(ValueError, match="map_names must have 2 entries"):
        render_sheet(clip, maps, map_names=["one"])
    with pytest.raises(ValueError, match="preserved holds 1 clips but the heatmap holds 2"):
        render_sheet(clip, maps, perturbed[:1])
    with pytest.raises(ValueError, match=r"caption must be one value or one per clip \(2\)"):
        render_sheet(clip, maps, caption=[SheetCaption("a")] * 3)
    with pytest.raises(TypeError, match="label"):  # the first release's label/score are gone
        render_sheet(clip, maps, label=["a", "b"])  # type: ignore[call-arg]


def test_signed_maps_on_the_sheet() -> None:
    maps = torch.zeros(1, 1, T, H, W)
    maps[..., :2] = -1.0
    maps[..., -2:] = 1.0
    sheet = render_sheet(grey_frames(), maps, polarity="signed", alpha=1.0, scale=1)
    cell = sheet.cell("heatmap", 0)
    assert cell[0, 0].tolist() == [0, 0, 255]
    assert cell[0, W // 2].tolist() == [255, 255, 255]
    assert cell[0, -1].tolist() == [255, 0, 0]


def test_save_sheet_writes_the_same_pixels(tmp_path: Path) -> None:
    path = tmp_path / "out" / "sheet.png"
    sheet = save_sheet(
        path, grey_frames(), half_mask(), caption=SheetCaption("x", 1.0), value_range=(0, 1)
    )
    written = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(written, sheet.image.numpy())


def test_two_areas_get_their_own_preserved_rows_and_probabilities(drawn_texts: list[str]) -> None:
    from videoattr.viz import SheetCaption

    kept = torch.stack([torch.full((T, H, W, 3), v, dtype=torch.uint8) for v in (30, 60)])[None]
    caption = SheetCaption(target="left", preserved_probability=[0.946, 0.897])
    sheet = render_sheet(
        grey_frames(), torch.rand(1, 2, T, H, W), kept,
        caption=caption, map_names=["area 0.05", "area 0.2"], scale=1,
    )  # fmt: skip
    # Each area's mask row is followed by its own preserved row, named by the area.
    assert sheet.row_names == (
        "input", "area 0.05", "preserved area 0.05", "area 0.2", "preserved area 0.2",
    )  # fmt: skip
    assert bool((sheet.cell("preserved area 0.05", 0) == 30).all())
    assert bool((sheet.cell("preserved area 0.2", 0) == 60).all())
    labels = dict(zip(sheet.row_names, sheet.row_labels, strict=True))
    assert labels["preserved area 0.05"] == "preserved\narea 0.05\np(target | preserved)\n= 0.946"
    assert labels["preserved area 0.2"].endswith("= 0.897")
    assert "= 0.946" in drawn_texts and "= 0.897" in drawn_texts
    assert "p(target | preserved) = 0.946, 0.897 (per area)" in sheet.captions[0]
    # A preserved row is tall enough for its four lines of label even with small cells.
    tops = sheet.row_tops
    assert tops[3] - tops[2] >= 4 * 14 and tops[2] - tops[1] < 4 * 14


def test_several_targets_per_clip_draw_one_row_per_target() -> None:
    maps = torch.randn(2, 3, 1, T, H, W)  # (B, K, 1, T, H, W) as attribute(x, target="top3")
    targets = torch.tensor([[4, 1, 0], [2, 4, 3]])
    names = ["abseiling", "bowling", "cooking", "dancing", "eating"]
    sheet = render_sheet(
        random_clip(b=2, t=T, h=H, w=W), maps, target_names=targets, class_names=names,
        target_probabilities=torch.tensor([[0.5, 0.2, 0.1], [0.7, 0.1, 0.05]]), scale=1,
    )  # fmt: skip
    assert sheet.row_names == (
        "input", "eating", "bowling", "abseiling", "input", "cooking", "eating", "dancing",
    )  # fmt: skip
    assert sheet.row_clips == (0, 0, 0, 0, 1, 1, 1, 1)
    assert sheet.row_labels[1] == "eating\np(target | clip)\n= 0.500"
    # Each target's row is that target's map (scaled on its own, signed: centred on zero).
    alone = render_sheet(random_clip(b=2, t=T, h=H, w=W)[1:], maps[1:, 2], scale=1)
    assert torch.equal(sheet.cell("dancing", 1, clip=1), alone.cell("heatmap", 1))
    # Names shared by every clip, and the default names.
    shared = render_sheet(random_clip(b=2, t=T, h=H, w=W), maps, target_names=["a", "b", "c"])
    assert shared.row_names[1:4] == ("a", "b", "c") == shared.row_names[5:8]
    plain = render_sheet(random_clip(b=2, t=T, h=H, w=W), maps)
    assert plain.row_names[1:4] == ("target 0", "target 1", "target 2")
    with pytest.raises(ValueError, match=r"target_names must hold 3 entries"):
        render_sheet(random_clip(b=2, t=T, h=H, w=W), maps, target_names=["a", "b"])
    with pytest.raises(ValueError, match="one sheet per target"):
        render_sheet(random_clip(b=2, t=T, h=H, w=W), maps, random_clip(b=2, t=T, h=H, w=W))
