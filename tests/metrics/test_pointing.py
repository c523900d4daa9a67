from __future__ import annotations

import math

import pytest
import torch

from tests.metrics.conftest import devices
from videoattr.metrics import (
    PointingGame,
    boxes_to_masks,
    mass_in_ground_truth,
    pointing_game,
    topk_iou,
)
from videoattr.metrics.pointing import peak_locations, top_fraction_mask


def _boxes_gt(b: int = 3, t: int = 4, size: int = 24) -> torch.Tensor:
    """Off-centre boxes, absent from the last frame."""
    gt = torch.zeros(b, 1, t, size, size, dtype=torch.bool)
    for i in range(b):
        gt[i, 0, : t - 1, 2 + i : 8 + i, 3 : 10 + i] = True
    return gt


def test_boxes_to_masks_by_pixel_centres() -> None:
    boxes = torch.tensor([[[2.0, 1.0, 5.0, 3.0], [math.nan] * 4]])
    mask = boxes_to_masks(boxes, (6, 8))
    assert mask.shape == (1, 1, 2, 6, 8)
    expected = torch.zeros(6, 8, dtype=torch.bool)
    expected[1:3, 2:5] = True  # rows with centres 1.5, 2.5; columns 2.5, 3.5, 4.5
    assert torch.equal(mask[0, 0, 0], expected)
    assert not bool(mask[0, 0, 1].any())


@pytest.mark.parametrize("device", devices())
def test_perfect_map_hits_and_inverted_map_misses(device: str) -> None:
    gt = _boxes_gt().to(device)
    perfect = pointing_game(gt.float(), gt, tolerance=0)
    assert perfect.accuracy == 1.0
    assert perfect.hits.shape == (3, 4) and perfect.hits.device.type == device
    assert perfect.valid[:, -1].sum() == 0 and bool(perfect.valid[:, :-1].all())
    inverted = pointing_game(1 - gt.float(), gt, tolerance=0)
    assert inverted.accuracy == 0.0
    assert pointing_game(gt.float(), gt, per="clip").accuracy == 1.0
    assert pointing_game(1 - gt.float(), gt, per="clip", tolerance=0).accuracy == 0.0


def test_tolerance_in_pixels() -> None:
    gt = torch.zeros(1, 1, 1, 20, 20, dtype=torch.bool)
    gt[..., 5:8, 5:8] = True  # right edge at column 7
    m = torch.zeros(1, 1, 1, 20, 20)
    m[..., 6, 10] = 1.0  # 3 px right of the box
    assert not pointing_game(m, gt, tolerance=2.9).hits.item()
    assert pointing_game(m, gt, tolerance=3.0).hits.item()
    # default: 7 px at 112, scaled to 20 px -> 1.25 px: a miss
    assert not pointing_game(m, gt).hits.item()
    m2 = torch.zeros(1, 1, 1, 20, 20)
    m2[..., 10, 10] = 1.0  # diagonal distance sqrt(9 + 9) = 4.24 px from the corner (7, 7)
    assert not pointing_game(m2, gt, tolerance=4.2).hits.item()
    assert pointing_game(m2, gt, tolerance=4.25).hits.item()


def test_random_maps_score_near_chance() -> None:
    g = torch.Generator().manual_seed(0)
    gt = torch.zeros(16, 1, 16, 16, 16, dtype=torch.bool)
    gt[..., :8, :8] = True  # a quarter of every frame
    maps = torch.rand(16, 1, 16, 16, 16, generator=g)
    acc = pointing_game(maps, gt, tolerance=0).accuracy  # 256 frames, chance 0.25
    assert abs(acc - 0.25) < 0.09
    mass = mass_in_ground_truth(maps, gt)
    assert torch.allclose(mass, torch.full((16,), 0.25), atol=0.02)


def test_plateau_ties_break_towards_the_centre() -> None:
    mask = torch.zeros(1, 1, 3, 16, 16)
    mask[0, 0, :, 3:8, 9:14] = 1.0  # a flat 5x5 plateau centred on (5, 11)
    peaks = peak_locations(mask)
    assert peaks.shape == (1, 3, 2)
    assert peaks[0].tolist() == [[5, 11]] * 3
    clip_peak = peak_locations(mask, per="clip")
    assert clip_peak.tolist() == [[1, 5, 11]]
    # two areas: the sum ranks the voxels kept at the smaller area first
    small = torch.zeros_like(mask)
    small[0, 0, :, 3:5, 9:11] = 1.0
    both = torch.cat([small, mask], dim=1)
    assert peak_locations(both)[0, 0].tolist() in ([3, 9], [3, 10], [4, 9], [4, 10])


def test_pointing_game_averages_over_classes() -> None:
    gt = torch.zeros(4, 1, 1, 8, 8, dtype=torch.bool)
    gt[..., :2, :2] = True
    maps = torch.zeros(4, 1, 1, 8, 8)
    maps[0, ..., 0, 0] = 1  # class 0: hit
    maps[1, ..., 7, 7] = 1  # class 1: miss
    maps[2, ..., 1, 1] = 1  # class 1: hit
    maps[3, ..., 6, 6] = 1  # class 1: miss
    game = PointingGame(num_classes=3, tolerance=0)
    game.update(maps[:2], gt[:2], torch.tensor([0, 1]))
    game.update(maps[2:], gt[2:], torch.tensor([1, 1]))
    assert game.per_class()[:2] == [1.0, pytest.approx(1 / 3)]
    assert math.isnan(game.per_class()[2])
    assert game.score() == pytest.approx((1 + 1 / 3) / 2)
    game.reset()
    assert math.isnan(game.score())


def test_mass_in_ground_truth_hand_case() -> None:
    maps = torch.tensor([1.0, 2.0, 3.0, 4.0, -5.0]).view(1, 1, 1, 1, 5)
    gt = torch.tensor([False, False, True, True, False]).view(1, 1, 1, 1, 5)
    assert mass_in_ground_truth(maps, gt).item() == pytest.approx(7 / 10)
    assert mass_in_ground_truth(maps, gt, polarity="absolute").item() == pytest.approx(7 / 15)
    assert mass_in_ground_truth(torch.zeros_like(maps), gt).item() == 0.0
    gt_t = _boxes_gt()
    per_frame = mass_in_ground_truth(gt_t.float(), gt_t, per="frame")
    assert torch.equal(per_frame[:, :-1], torch.ones(3, 3))
    assert bool(per_frame[:, -1].isnan().all())
    assert bool((mass_in_ground_truth(1 - gt_t.float(), gt_t) == 0).all())


def test_top_fraction_iou() -> None:
    gt = _boxes_gt(b=1)
    frac = gt.float().mean().item()
    assert topk_iou(gt.float() + 0.1 * torch.rand(gt.shape), gt, frac).item() == pytest.approx(1.0)
    assert topk_iou(1 - gt.float(), gt, frac).item() == 0.0
    # hand case: top 2 of 4 voxels = {0, 1}; reference = {1, 2} -> IoU 1/3
    m = torch.tensor([4.0, 3.0, 2.0, 1.0]).view(1, 1, 1, 1, 4)
    ref = torch.tensor([False, True, True, False]).view(1, 1, 1, 1, 4)
    assert topk_iou(m, ref, 0.5).item() == pytest.approx(1 / 3)
    # two float maps: their own top halves are compared
    other = torch.tensor([1.0, 3.0, 4.0, 2.0]).view(1, 1, 1, 1, 4)
    assert topk_iou(m, other, 0.5).item() == pytest.approx(1 / 3)
    assert top_fraction_mask(m, 0.25).flatten().tolist() == [True, False, False, False]


def test_shape_and_value_errors() -> None:
    gt = _boxes_gt()
    with pytest.raises(ValueError, match="ground_truth"):
        pointing_game(gt.float(), gt[:, :, :2])
    with pytest.raises(ValueError, match="attribution"):
        pointing_game(gt.float()[:, 0], gt)
    with pytest.raises(ValueError, match="per"):
        pointing_game(gt.float(), gt, per="video")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fraction"):
        topk_iou(gt.float(), gt, 0.0)
    with pytest.raises(ValueError, match="ground_truth"):
        mass_in_ground_truth(gt.float(), gt.float() * 2)
    with pytest.raises(ValueError, match="boxes"):
        boxes_to_masks(torch.zeros(2, 4), (8, 8))
