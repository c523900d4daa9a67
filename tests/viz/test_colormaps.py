"""Tests of videoattr.viz.colormaps: built-in tables against their definitions, custom tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videoattr.viz import COLORMAPS
from videoattr.viz.colormaps import apply_colormap, colormap_lut, luminance


def hex_rgb(colour: str) -> list[float]:
    return [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]


@pytest.mark.parametrize("name", sorted(COLORMAPS))
def test_tables_are_valid(name: str) -> None:
    lut = colormap_lut(name, 64)
    assert lut.shape == (64, 3) and lut.dtype == torch.float32
    assert float(lut.min()) >= 0.0 and float(lut.max()) <= 1.0


def test_viridis_endpoints_and_monotonic_luminance() -> None:
    lut = colormap_lut("viridis")
    assert torch.allclose(lut[0], torch.tensor(hex_rgb("#440154")), atol=1e-6)
    assert torch.allclose(lut[-1], torch.tensor(hex_rgb("#fde725")), atol=1e-6)
    lum = luminance(lut)
    assert bool((lum[1:] > lum[:-1]).all())


def test_jet_matches_its_piecewise_definition() -> None:
    x = torch.linspace(0, 1, 101)
    rgb = apply_colormap(x, "jet")
    expected = torch.stack([(1.5 - (4 * x - c).abs()).clamp(0, 1) for c in (3, 2, 1)], -1)
    # The table has 256 rows and is interpolated linearly: close to the closed form, exact at ends.
    assert torch.allclose(rgb, expected, atol=0.01)
    assert rgb[0].tolist() == [0.0, 0.0, 0.5] and rgb[-1].tolist() == [0.5, 0.0, 0.0]


def test_turbo_shape_of_the_rainbow() -> None:
    lut = colormap_lut("turbo")
    lum = luminance(lut)
    # Dark at both ends, bright in the middle; blue dominates the low end, red the high end.
    assert lum[0] < 0.15 and lum[-1] < 0.2 and lum[128] > 0.7
    assert int(lut[40].argmax()) == 2 and int(lut[220].argmax()) == 0


def test_bwr_is_white_in_the_middle() -> None:
    lut = colormap_lut("bwr", 257)
    assert lut[128].tolist() == [1.0, 1.0, 1.0]
    assert lut[0].tolist() == [0.0, 0.0, 1.0] and lut[-1].tolist() == [1.0, 0.0, 0.0]


def test_custom_tables_interpolate() -> None:
    table = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.5, 0.0]])
    out = apply_colormap(torch.tensor([0.0, 0.25, 1.0, 2.0, -1.0]), table)
    expected = torch.tensor([[0, 0, 0], [0.25, 0.125, 0], [1, 0.5, 0], [1, 0.5, 0], [0, 0, 0]])
    assert torch.allclose(out, expected)
    as_uint8 = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)
    assert torch.allclose(apply_colormap(torch.tensor([0.5]), as_uint8), torch.full((1, 3), 0.5))


def test_colormap_errors() -> None:
    with pytest.raises(ValueError, match=r"cmap must be one of \['bwr', 'gray', 'jet'"):
        colormap_lut("rainbow")
    with pytest.raises(ValueError, match=r"shape \(N, 3\) with N >= 2"):
        colormap_lut(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"finite values in \[0, 1\]"):
        colormap_lut(torch.full((4, 3), 2.0))
    with pytest.raises(TypeError, match="colormap name or an"):
        colormap_lut(3)  # type: ignore[arg-type]
