"""The pointing game on boxes: the correct protocol, and each quirk of the reference one on a non-square box."""

from __future__ import annotations

import math

import pytest
import torch

from videoattr.metrics import PointingGame, boxes_to_masks
from videoattr.metrics.protocols import (
    chance_hits,
    class_average,
    hit_regions,
    pointing_on_boxes,
    reference_peaks,
)

NAN = [math.nan] * 4
TALL = [2.0, 20.0, 8.0, 36.0]  # x 2..8, y 20..36 on a 40 x 48 frame: tall, off the diagonal
SIZE = (40, 48)


def _peak_map(points: list[tuple[int, int]], size: tuple[int, int] = SIZE) -> torch.Tensor:
    """``(1, 1, T, H, W)`` maps, frame ``t`` peaking at ``points[t] = (row, col)``."""
    maps = torch.zeros(1, 1, len(points), *size)
    for t, (r, c) in enumerate(points):
        maps[0, 0, t, r, c] = 1.0
    return maps


def test_peak_on_the_object_scores_one_and_elsewhere_zero_correct_protocol() -> None:
    boxes = torch.tensor([[TALL, TALL]])
    result = pointing_on_boxes(_peak_map([(28, 5), (5, 40)]), boxes, tolerance=2)
    assert result.hits.tolist() == [[True, False]] and bool(result.valid.all())


def test_quirk_a_row_tested_against_the_x_range() -> None:
    boxes = torch.tensor([[TALL, TALL]])
    on_object, mirrored = (28, 5), (5, 28)  # (row, col) of the box centre and its mirror image
    maps = _peak_map([on_object, mirrored])
    correct = pointing_on_boxes(maps, boxes, tolerance=2)
    reference = pointing_on_boxes(maps, boxes, protocol="reference", tolerance=2)
    assert correct.hits.tolist() == [[True, False]]
    assert reference.hits.tolist() == [[False, True]]  # the map on the object misses


def test_quirk_b_tolerance_grows_a_square_not_a_disc() -> None:
    t = 3.0
    boxes = torch.tensor([[TALL]])
    region = hit_regions(boxes, SIZE, protocol="reference", tolerance=t)[0, 0]
    # the integer box grown by 3 px on every side, mirrored (rows = x, columns = y)
    square = torch.zeros(SIZE, dtype=torch.bool)
    square[0 : 8 + 3 + 1, 20 - 3 : 36 + 3 + 1] = True
    assert torch.equal(region, square)
    # the corner of the square lies 3 * sqrt(2) px from the box: a hit there, not in the correct game
    corner = (8 + 3, 36 + 3)
    assert pointing_on_boxes(
        _peak_map([corner]), boxes, protocol="reference", tolerance=t
    ).hits.item()
    disc = hit_regions(boxes, SIZE, tolerance=t)[0, 0]
    # the box's last pixel is (row 35, col 7): diagonally 3 px away on each axis is beyond the disc
    assert not bool(disc[35 + 3, 7 + 3]) and bool(disc[35 + 2, 7 + 2])
    assert bool(disc[20 - 3, 4]) and not bool(disc[20 - 4, 4])  # straight off a side: 3 px is a hit


def test_quirk_c_frames_without_a_box_are_scored() -> None:
    boxes = torch.tensor([[TALL, NAN, NAN]])
    maps = _peak_map([(28, 5), (1, 2), (20, 20)])
    correct = pointing_on_boxes(maps, boxes, tolerance=2)
    assert correct.valid.tolist() == [[True, False, False]] and correct.accuracy == 1.0
    reference = pointing_on_boxes(maps, boxes, protocol="reference", tolerance=2)
    assert reference.valid.tolist() == [[True, True, True]]
    # the empty frame's box is (0, 0, 0, 0): a peak in the 2 x 2 px corner at the origin is a hit
    assert reference.hits.tolist() == [[False, True, False]]


def test_reference_peak_is_the_first_maximum_in_row_major_order() -> None:
    maps = torch.zeros(1, 1, 1, 6, 8)
    maps[0, 0, 0, 2:5, 3:7] = 1.0  # a plateau
    assert reference_peaks(maps).tolist() == [[[2, 3]]]
    # a flat (all-zero) oracle frame peaks at the origin, which the reference counts as a hit
    flat = torch.zeros(1, 1, 1, 40, 48)
    assert pointing_on_boxes(flat, torch.tensor([[NAN]]), protocol="reference").hits.item()


def test_oracle_map_scores_one_under_the_correct_protocol_only() -> None:
    boxes = torch.tensor([[TALL, [30.0, 4.0, 46.0, 10.0], NAN]])
    oracle = boxes_to_masks(boxes, SIZE).float()
    assert pointing_on_boxes(oracle, boxes).accuracy == 1.0
    # reference: the first maximum of a box is its top-left pixel, tested mirrored
    assert pointing_on_boxes(oracle, boxes, protocol="reference").hits.tolist() == [
        [False, False, True]
    ]


@pytest.mark.parametrize("protocol", ["correct", "reference"])
def test_chance_is_the_average_over_every_peak_position(protocol: str) -> None:
    h, w = 12, 16
    boxes = torch.tensor([[[3.0, 2.0, 7.5, 10.0], NAN]])
    every = torch.eye(h * w).view(h * w, 1, 1, h, w).expand(h * w, 1, 2, h, w)
    result = pointing_on_boxes(
        every,
        boxes.expand(h * w, 2, 4),
        protocol=protocol,
        tolerance=2,  # type: ignore[arg-type]
    )
    expected, valid = chance_hits(boxes, (h, w), protocol=protocol, tolerance=2)  # type: ignore[arg-type]
    assert torch.allclose(result.hits.float().mean(0), expected[0])
    assert torch.equal(result.valid[0], valid[0])


def test_class_average_by_hand_on_an_unbalanced_set() -> None:
    # class 0: three videos of 4 scored frames with 4, 4 and 0 hits; class 1: one video, 1 of 4;
    # class 2: no video
    hits = torch.tensor([4.0, 4.0, 0.0, 1.0])
    totals = torch.tensor([4.0, 4.0, 4.0, 4.0])
    labels = torch.tensor([0, 0, 0, 1])
    correct = class_average(hits, totals, labels, 3)
    assert correct == pytest.approx((8 / 12 + 1 / 4) / 2)
    assert correct != pytest.approx(9 / 16)  # not the pooled rate over frames
    reference = class_average(hits, totals, labels, 3, protocol="reference")
    assert reference == pytest.approx((8 / 12 + 1 / 4 + 0) / 3)
    # the same as the PointingGame accumulator on frame-level results
    game = PointingGame(num_classes=3, tolerance=0)
    for v in range(4):
        gt = torch.zeros(1, 1, 4, 2, 2, dtype=torch.bool)
        gt[..., 0, 0] = True
        maps = torch.zeros(1, 1, 4, 2, 2)
        k = int(hits[v])
        maps[0, 0, :k, 0, 0] = 1.0
        maps[0, 0, k:, 1, 1] = 1.0
        game.update(maps, gt, labels[v : v + 1])
    assert game.score() == pytest.approx(correct)
