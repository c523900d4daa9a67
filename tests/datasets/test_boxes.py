"""Boxes follow the frames through resize and centre crop: the box still frames the drawn object."""

from __future__ import annotations

import math

import pytest
import torch

from tests.datasets.formats import draw_frame, inner_and_outer
from videoattr.datasets.boxes import ClipGeometry, box_problem, clip_to_frame, edge_slack, pad_boxes
from videoattr.io import to_clip
from videoattr.metrics import boxes_to_masks
from videoattr.zoo import Preprocessing


@pytest.mark.parametrize(
    ("size", "resize", "crop"),
    [
        ((90, 140), (128, 171), (112, 112)),  # the reference implementation's R(2+1)D preprocessing
        ((90, 140), 64, 56),  # short side, then a square crop
        ((140, 90), 64, (60, 40)),  # portrait frames, a rectangular crop
        ((90, 140), None, (80, 100)),  # crop only
        ((90, 140), (45, 70), None),  # resize only
    ],
)
def test_box_still_frames_the_drawn_object(
    size: tuple[int, int], resize: object, crop: object
) -> None:
    h, w = size
    boxes = [
        (20.0, 10.0, 61.0, 47.0),
        (w - 30.0, h - 25.0, float(w), float(h)),
        (0.0, 0.0, 9.0, 12.0),
    ]
    frames = torch.stack([torch.from_numpy(draw_frame(size, [b])) for b in boxes])  # (3, H, W, 3)
    clip = to_clip(frames, size=resize, crop=crop)[0]  # (3, T, h, w) in [0, 1]
    geometry = ClipGeometry.of(size, resize=resize, crop=crop)
    assert tuple(clip.shape[-2:]) == geometry.size
    moved = geometry.transform(torch.tensor(boxes))
    red = (clip[0] > 0.5) & (clip[1] < 0.35)  # (T, h, w)
    for t in range(len(boxes)):
        if bool(moved[t].isnan().any()):  # the crop cut the object away
            assert not bool(red[t].any())
            continue
        mask = boxes_to_masks(moved[t].view(1, 1, 4), geometry.size)[0, 0, 0]
        inner, outer = inner_and_outer(mask)
        assert bool(red[t][inner].all())
        assert bool(inner.any()) or int(mask.sum()) < 20  # only a sliver left by the crop
        assert not bool(red[t][~outer].any())


def test_geometry_of_a_model_preprocessing_matches_to_clip() -> None:
    prep = Preprocessing((128, 171), (112, 112), (0.4, 0.4, 0.4), (0.2, 0.2, 0.2))
    g = ClipGeometry.of_preprocessing((240, 320), prep)
    assert g == ClipGeometry((240, 320), (128, 171), (8, 30, 112, 112))
    # a box of the centre 112 x 112 of the resized frame maps onto the whole clip
    box = torch.tensor([30 * 320 / 171, 8 * 240 / 128, 142 * 320 / 171, 120 * 240 / 128])
    assert torch.allclose(g.transform(box), torch.tensor([0.0, 0.0, 112.0, 112.0]), atol=1e-4)
    # a box wholly in the part the crop removes is no box
    assert bool(g.transform(torch.tensor([0.0, 0.0, 10.0, 10.0])).isnan().all())
    with pytest.raises(TypeError, match="resize and crop"):
        ClipGeometry.of_preprocessing((240, 320), lambda frames: frames)


def test_box_problems_and_padding() -> None:
    assert box_problem((0, 0, 80, 60), (60, 80)) is None
    assert "outside its 80 x 60 frame" in str(box_problem((0, 0, 81, 60), (60, 80)))
    assert "empty" in str(box_problem((5, 5, 5, 9), (60, 80)))
    assert "not finite" in str(box_problem((math.nan, 0, 1, 1), (60, 80)))
    padded = pad_boxes([[(1, 2, 3, 4)], [], [(1, 1, 2, 2), (3, 3, 4, 4)]])
    assert padded.shape == (3, 2, 4)
    assert bool(padded[1].isnan().all()) and bool(padded[0, 1].isnan().all())


def test_boxes_a_little_past_the_edge_are_clipped_and_farther_ones_kept_for_refusal() -> None:
    # the slack is the larger of 2 pixels and 2% of the side: 6.4 of 320, 4.8 of 240, 2 of 64
    assert edge_slack(320) == pytest.approx(6.4) and edge_slack(64) == 2.0
    size = (240, 320)
    assert clip_to_frame((0, 0, 320, 240), size) == (0.0, 0.0, 320.0, 240.0)  # inside: as is
    clipped = clip_to_frame((-1, -4.8, 321, 244.8), size)
    assert clipped == (0.0, 0.0, 320.0, 240.0) and all(type(v) is float for v in clipped)
    assert clip_to_frame((10, 10, 326.4, 50), size) == (
        10.0,
        10.0,
        320.0,
        50.0,
    )  # exactly the slack
    for far in [(10, 10, 326.5, 50), (-6.5, 10, 50, 50), (10, 10, 50, 244.9), (10, -5, 50, 50)]:
        assert clip_to_frame(far, size) == tuple(float(v) for v in far)
        assert "outside its 320 x 240 frame" in str(box_problem(far, size))
    assert math.isnan(clip_to_frame((0, 0, math.nan, 5), size)[2])  # not finite: as is, refused
    # clipping can leave nothing: that is an empty box, refused
    assert "empty" in str(box_problem(clip_to_frame((320.5, 10, 322, 50), size), size))
