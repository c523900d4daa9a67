"""Signed maps are always drawn on a diverging scale centred on zero, and the colour bar says so.

The rule is taken from the values (any negative value drawn in a picture makes it signed), so it
holds for SmoothGrad, occlusion and temporal occlusion as for the gradient methods, without the
caller saying which methods return signed maps.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import clip as random_clip
from tests.helpers import tiny_cnn3d
from videoattr.methods import Occlusion, Saliency, SmoothGrad, TemporalOcclusion
from videoattr.viz import OverlayStyle, panels, render_sheet
from videoattr.viz.overlay import colorize

T, H, W = 2, 6, 8
WHITE, BLUE, RED = [255, 255, 255], [0, 0, 255], [255, 0, 0]


def grey_frames() -> torch.Tensor:
    return torch.full((1, T, H, W, 3), 128, dtype=torch.uint8)


def tiny_signed_map(scale: float = 7e-5) -> torch.Tensor:
    """(1, 1, T, H, W): negative on the left, zero in the middle, positive (twice as big) right."""
    maps = torch.zeros(1, 1, T, H, W)
    maps[..., :2] = -scale / 2
    maps[..., -2:] = scale
    return maps


def test_a_tiny_signed_map_is_centred_on_zero_without_being_told() -> None:
    # SmoothGrad-sized values (+-7e-5) and no polarity given: 0 is white, the largest magnitude
    # is full red, the negative half-magnitude is a half-saturated blue.
    sheet = render_sheet(grey_frames(), tiny_signed_map(), alpha=1.0, scale=1)
    cell = sheet.cell("heatmap", 0)
    assert cell[0, 3].tolist() == WHITE
    assert cell[0, -1].tolist() == RED
    left = cell[0, 0].tolist()
    assert left[2] == 255 and 120 <= left[0] == left[1] <= 135  # bwr at 0.25: (0.5, 0.5, 1)
    assert sheet.colorbar_ticks == ("-7e-05", "0", "+7e-05")
    assert sheet.colorbar_note.startswith("signed, centred on 0")
    # The colour bar's middle is white, its ends blue and red.
    assert sheet.colorbar is not None
    top, left_px, height, width = sheet.colorbar
    bar = sheet.image[top + height // 2, left_px : left_px + width]
    assert bar[0].tolist() == BLUE and bar[-1].tolist() == RED
    centre = (width - 1) / 2
    for i, (r, g, b) in enumerate(bar.tolist()):  # bluish left of the centre, reddish right of it
        if i < centre:
            assert b == 255 and r == g < 255
        elif i > centre:
            assert r == 255 and g == b < 255
    nearest = bar[int(centre)].int()  # within one step of the gradient from white
    assert int(nearest.min()) >= 255 - 2 * 255 / (width - 1) - 1


def test_the_same_map_shifted_to_be_non_negative_keeps_the_sequential_scale() -> None:
    maps = tiny_signed_map() + 1e-4  # all positive now
    sheet = render_sheet(grey_frames(), maps, alpha=1.0, scale=1)
    assert sheet.colorbar_note == "each map from its minimum to its maximum"
    assert sheet.cell("heatmap", 0)[0, 3].tolist() != WHITE  # turbo, min-max


def test_one_decision_for_every_map_of_a_picture() -> None:
    # One clip holds a negative value, the other does not: both are drawn signed (one colour bar).
    maps = torch.cat([tiny_signed_map(), tiny_signed_map().abs()], dim=0)
    sheet = render_sheet(grey_frames().expand(2, -1, -1, -1, -1), maps, alpha=1.0, scale=1)
    for clip in range(2):
        assert sheet.cell("heatmap", 0, clip=clip)[0, 3].tolist() == WHITE
    assert sheet.colorbar_ticks == ("-max|map|", "0", "+max|map|")
    # colorize and panels follow the same rule.
    assert colorize(tiny_signed_map())[0, 0, 0, 0, 3].tolist() == WHITE
    video = panels(grey_frames(), tiny_signed_map(), alpha=1.0, scale=1, pad=0)
    assert video[0, 0, W + 3].tolist() == WHITE


def test_a_value_range_on_a_signed_scale_is_made_symmetric() -> None:
    style = OverlayStyle(value_range=(-1.0, 4.0)).resolve(tiny_signed_map())
    assert style.polarity == "signed" and style.value_range == (-4.0, 4.0)
    assert style.tick_labels() == ("-4", "0", "+4")
    # A chosen polarity is kept: "absolute" maps are non-negative and drawn sequentially.
    absolute = OverlayStyle(polarity="absolute").resolve(tiny_signed_map())
    assert absolute.polarity == "absolute" and absolute.colormap == "turbo"


@pytest.mark.parametrize(
    "make",
    [
        lambda m: SmoothGrad(Saliency(m), n=4, seed=0),
        lambda m: Occlusion(m, window=(2, 8, 8), progress=False),
        lambda m: TemporalOcclusion(m, span=1, stride=1, progress=False),
    ],
    ids=["smoothgrad", "occlusion", "temporal_occlusion"],
)
def test_the_signed_methods_are_drawn_on_the_diverging_scale(make: object) -> None:
    model = tiny_cnn3d(num_classes=3).eval()
    x = random_clip(b=1, t=4, h=16, w=16)
    maps = make(model).attribute(x, target=1)  # type: ignore[operator]
    assert float(maps.min()) < 0 < float(maps.max())  # these methods return signed maps
    sheet = render_sheet(x, maps, scale=1)
    assert sheet.colorbar_note.startswith("signed, centred on 0")
    m = float(maps.abs().max())
    assert sheet.colorbar_ticks == (f"-{m:.3g}", "0", f"+{m:.3g}")
