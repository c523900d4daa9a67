"""Tests of videoattr.viz.overlay and writers: de-normalisation, scaling, colouring, blending."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import clip as random_clip
from videoattr.io import read_video, to_clip
from videoattr.viz import overlay, panels, preserved_clip, save_gif, save_mp4
from videoattr.viz.colormaps import apply_colormap
from videoattr.viz.overlay import apply_mask, colorize, denormalize, scale_maps
from videoattr.viz.writers import tile

MEAN, STD = (0.43216, 0.39467, 0.37645), (0.22803, 0.22145, 0.21699)
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def uint8_frames(t: int = 3, h: int = 8, w: int = 10, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), generator=g, dtype=torch.uint8)


def test_denormalize_inverts_to_clip() -> None:
    frames = uint8_frames()
    clip = to_clip(frames, MEAN, STD)  # (1, 3, T, H, W)
    assert torch.equal(denormalize(clip, MEAN, STD), frames.unsqueeze(0))
    assert torch.equal(denormalize(clip[0], MEAN, STD), frames)
    grey = denormalize(torch.full((1, 1, 2, 2, 2), 0.5))
    assert grey.shape == (1, 2, 2, 2, 3) and bool((grey == 128).all())
    with pytest.raises(ValueError, match="mean must have 3 entries"):
        denormalize(clip, (0.5,), STD)
    with pytest.raises(TypeError, match="float tensor"):
        denormalize(frames)


def test_scale_maps_modes() -> None:
    maps = torch.stack([torch.linspace(-1, 3, 8), torch.linspace(10, 20, 8)]).view(1, 2, 2, 2, 2)
    unsigned = maps.clone()
    unsigned[0, 0] += 2.0  # 1 .. 5: no negative value anywhere
    scaled = scale_maps(unsigned)  # min-max per map
    for a in range(2):
        assert float(scaled[0, a].min()) == 0.0 and float(scaled[0, a].max()) == 1.0
    signed = scale_maps(maps, polarity="signed")
    assert torch.allclose(signed[0, 0], maps[0, 0] / 6 + 0.5)  # max |x| = 3
    # A negative value makes every map of the picture signed: 0 maps to the middle, per map.
    assert torch.equal(scale_maps(maps), signed)
    assert torch.allclose(signed[0, 1], maps[0, 1] / 40 + 0.5)  # max |x| = 20
    positive = scale_maps(maps, polarity="positive")
    assert torch.allclose(positive[0, 0], maps[0, 0].clamp(min=0) / 3)
    fixed = scale_maps(unsigned, value_range=(0, 10))
    assert torch.allclose(fixed, (unsigned / 10).clamp(0, 1))
    # On a signed scale a value range is made symmetric around 0: (0, 10) becomes (-10, 10).
    widened = scale_maps(maps, value_range=(0, 10))
    assert torch.allclose(widened, (maps / 20 + 0.5).clamp(0, 1))
    assert bool((scale_maps(torch.ones(2, 3, 3)) == 0).all())  # constant map
    with pytest.raises(ValueError, match="polarity must be one of"):
        scale_maps(maps, polarity="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lo < hi"):
        scale_maps(maps, value_range=(1, 1))


@pytest.mark.parametrize("device", DEVICES)
def test_overlay_blends_as_documented(device: str) -> None:
    frames = uint8_frames().to(device)
    heat = torch.rand(1, 1, 3, 8, 10, device=device)
    colours = colorize(heat, "viridis")
    assert colours.device.type == device
    expected = (apply_colormap(scale_maps(heat), "viridis") * 255).round().to(torch.uint8)
    assert torch.equal(colours, expected)
    assert torch.equal(overlay(frames, heat, "viridis", alpha=0.0)[0, 0], frames)
    assert torch.equal(overlay(frames, heat, "viridis", alpha=1.0), colours)
    half = overlay(frames, heat, "viridis", alpha=0.5)
    manual = (0.5 * frames.float() + 0.5 * colours[0, 0].float()).round().to(torch.uint8)
    assert torch.equal(half[0, 0], manual)


def test_overlay_straight_from_an_attributor_output() -> None:
    clip = random_clip(b=2, t=4, h=12, w=12)
    attr = torch.randn(2, 3, 4, 12, 12)  # (B, A, T, H, W), e.g. three areas
    out = overlay(clip, attr, mean=MEAN, std=STD)
    assert out.shape == (2, 3, 4, 12, 12, 3) and out.dtype == torch.uint8
    # Low-resolution maps are resized (trilinear) to the frames.
    small = overlay(clip, torch.rand(2, 1, 2, 3, 3), alpha=1.0)
    assert small.shape == (2, 1, 4, 12, 12, 3)
    # A single (T, H, W) map gives (T, H, W, 3).
    assert overlay(clip[:1], attr[0, 0]).shape == (4, 12, 12, 3)
    with pytest.raises(ValueError, match="frames hold 2 clips but heatmap holds 3"):
        overlay(clip, torch.rand(3, 1, 4, 12, 12))
    with pytest.raises(ValueError, match=r"\(B, A, T, H, W\) or \(T, H, W\)"):
        overlay(clip, torch.rand(4, 12, 12, 1))
    with pytest.raises(ValueError, match="alpha"):
        overlay(clip, attr, alpha=1.5)


def test_signed_polarity_uses_the_diverging_map() -> None:
    frames = torch.zeros(1, 2, 2, 3, dtype=torch.uint8)
    heat = torch.tensor([[[-2.0, 0.0], [1.0, 2.0]]])
    out = overlay(frames, heat, alpha=1.0, polarity="signed")
    assert out[0, 0, 0].tolist() == [0, 0, 255]  # most negative: blue
    assert out[0, 0, 1].tolist() == [255, 255, 255]  # zero: white
    assert out[0, 1, 1].tolist() == [255, 0, 0]  # most positive: red


def test_apply_mask_and_preserved_clip() -> None:
    frames = uint8_frames(2, 4, 4)
    mask = torch.zeros(2, 4, 4)
    mask[:, :, :2] = 1.0
    kept = apply_mask(frames, mask, background=(10, 20, 30))
    assert torch.equal(kept[:, :, :2], frames[:, :, :2])
    assert bool((kept[:, :, 2:] == torch.tensor([10, 20, 30], dtype=torch.uint8)).all())
    perturbed = torch.zeros(2, 3, 3, 2, 4, 4)  # (B, A, C, T, H, W)
    assert preserved_clip(perturbed, MEAN, STD).shape == (2, 3, 2, 4, 4, 3)
    assert preserved_clip(perturbed[:, 0]).shape == (2, 2, 4, 4, 3)


def test_tile_and_panels() -> None:
    a = torch.zeros(3, 4, 5, 3, dtype=torch.uint8)
    b = torch.full((2, 3, 4, 6, 3), 9, dtype=torch.uint8)
    tiled = tile([a, b], pad=1)
    assert tiled.shape == (3, 4, 5 + 1 + 6 + 1 + 6, 3)
    assert bool((tiled[:, :, 5] == 255).all()) and bool((tiled[:, :, 6:12] == 9).all())
    with pytest.raises(ValueError, match=r"share \(T, H\)"):
        tile([a, torch.zeros(2, 4, 5, 3, dtype=torch.uint8)])
    clip = random_clip(b=2, t=3, h=6, w=8)
    video = panels(clip, torch.rand(2, 2, 3, 6, 8), clip, pad=2, scale=1)
    # Per clip: input | 2 overlays | preserved, clips stacked with a 2-pixel gap.
    assert video.shape == (3, 6 + 2 + 6, 4 * 8 + 3 * 2, 3)


@pytest.mark.parametrize("ext", ["gif", "mp4"])
def test_save_animations_round_trip(tmp_path: Path, ext: str) -> None:
    # Smooth content and a grey colormap: the 4:2:0 chroma of the MP4 cannot keep sharp hues.
    y, x = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    frames = torch.stack([60 + 3 * x, 80 + 3 * y, 150 - 2 * x], -1).to(torch.uint8)
    heat = torch.stack([x / 15, y / 15]).view(1, 2, 1, 16, 16).expand(1, 2, 4, 16, 16)
    over = overlay(frames.expand(4, 16, 16, 3), heat, "gray", alpha=0.5)  # (1, 2, T, H, W, 3)
    path = (save_gif if ext == "gif" else save_mp4)(tmp_path / f"o.{ext}", over, fps=5)
    back = read_video(path)
    assert back.shape == (4, 16, 16 + 2 + 16, 3)  # the two maps tiled side by side
    err = (back.int() - tile(over).int()).abs().float()
    assert err[..., :16, :].mean() < 4 and err[..., 18:, :].mean() < 4
    with pytest.raises(ValueError, match=r"must end with \.gif"):
        save_gif(tmp_path / "o.mp4", over)
