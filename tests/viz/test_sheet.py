"""Tests of videoattr.viz.sheet: layout, pixels under the mask, captions, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import clip as random_clip
from videoattr.viz import luminance, render_sheet, save_sheet

T, H, W = 3, 6, 8
VIRIDIS_1 = (0xFD, 0xE7, 0x25)  # viridis at 1 (#fde725)
VIRIDIS_0 = (0x44, 0x01, 0x54)  # viridis at 0 (#440154)


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
        label="juggling",
        score=torch.tensor([0.9123]),
        scale=1,
    )
    assert sheet.row_names == ("input", "heatmap", "preserved")
    # The deprecated label/score arguments name what they are: the target and p(target | clip).
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
    other = render_sheet(grey_frames(), half_mask(), preserved, label="yoga", score=0.9123, scale=1)
    width = min(image.shape[1], other.image.shape[1])
    assert other.row_tops == sheet.row_tops
    assert not torch.equal(other.image[: other.row_tops[0], :width], caption[:, :width])


def test_no_caption_without_label_or_score() -> None:
    sheet = render_sheet(grey_frames(), half_mask(), pad=3, scale=1)
    with_caption = render_sheet(grey_frames(), half_mask(), pad=3, scale=1, label="x")
    assert sheet.captions == ("",) and sheet.row_tops[0] < with_caption.row_tops[0]


def test_batches_areas_and_scale() -> None:
    clip = random_clip(b=2, t=T, h=H, w=W)
    maps = torch.rand(2, 2, T, H, W)
    perturbed = random_clip(b=2, t=T, h=H, w=W, seed=1)
    sheet = render_sheet(
        clip, maps, perturbed, label=["a", "b"], score=[0.5, 0.25], map_names=["5%", "10%"], scale=2
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
    with pytest.raises(ValueError, match="label must be one value or one per clip"):
        render_sheet(clip, maps, label=["a", "b", "c"])


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
    sheet = save_sheet(path, grey_frames(), half_mask(), label="x", score=1.0, value_range=(0, 1))
    written = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(written, sheet.image.numpy())
