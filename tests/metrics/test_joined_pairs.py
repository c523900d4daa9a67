"""Temporal grounding on joined pairs of annotated clips, checked by hand."""

from __future__ import annotations

import pytest
import torch

from tests.datasets.formats import Video, write_act
from videoattr import zoo
from videoattr.datasets.act import act_dataset
from videoattr.evaluation.pairs import JoinedPairs, oracle_pair, score_pair, summarise_pairs

LABELS = ["right", "down", "left", "up"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> JoinedPairs:
    root = tmp_path_factory.mktemp("pairs")
    videos = [
        Video(
            f"{LABELS[k % 4]}/v{k}",
            k % 4,
            18,
            (60, 80),
            {f: (10, 10, 40, 40) for f in range(1, 19)},
        )
        for k in range(5)
    ]
    write_act(root, videos, LABELS)
    return JoinedPairs(act_dataset(root, zoo.load("demo")))


def test_joined_clip_is_the_two_halves(pairs: JoinedPairs) -> None:
    data = pairs.data
    for k in (0, 1):
        target, other = pairs.pairs[k]
        assert data.labels[other] != data.labels[target]
        clip, label, pair_id = pairs[k]
        assert clip.shape == (3, 16, 56, 56) and label == data.labels[target]
        a, b = data[target][0][:, ::2], data[other][0][:, ::2]
        first, second = (a, b) if k == 0 else (b, a)
        assert torch.equal(clip[:, :8], first) and torch.equal(clip[:, 8:], second)
        assert pairs.evidence(k).tolist() == (
            [True] * 8 + [False] * 8 if k == 0 else [False] * 8 + [True] * 8
        )
        assert pair_id.startswith(f"pair{k:05d}-")


def test_a_joined_pairs_grounding_by_hand() -> None:
    evidence = torch.tensor([True] * 4 + [False] * 4)  # the target is the first half
    maps = torch.zeros(1, 8, 2, 2)
    maps[0, 1] = 1.0  # 4 units in frame 1 (target half)
    maps[0, 6, 0, 0] = 3.0  # 3 units in frame 6 (the other half): less than frame 1
    s = score_pair(maps, evidence, 2, "p")
    assert (s.half, s.peak_frame) == (1.0, 1.0)
    maps[0, 6] = 2.0  # now 8 units in frame 6: the other half has more mass, and the peak frame
    s = score_pair(maps, evidence, 2, "p")
    assert (s.half, s.peak_frame) == (0.0, 0.0)
    maps[0, 1] = 2.0  # 8 and 8: a tie between the halves
    assert score_pair(maps, evidence, 2, "p").half == 0.5
    # class averaging of the half scores: class 0 has 1, 0, 1; class 1 has 0.5 -> (2/3 + 1/2) / 2
    from videoattr.evaluation.pairs import PairScores

    cell = summarise_pairs(
        [PairScores("a", 0, 1.0, 1), PairScores("b", 0, 0.0, 0), PairScores("c", 0, 1.0, 1),
         PairScores("d", 1, 0.5, 0)], 4, resamples=20,
    )  # fmt: skip
    assert cell.mean == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_oracle_pair_points_at_the_target_half(pairs: JoinedPairs) -> None:
    for k in range(len(pairs)):
        assert oracle_pair(pairs, k).half == 1.0


@pytest.mark.parametrize("value", [1.0, 0.0, -2.0])
def test_a_map_with_no_preference_between_the_halves_scores_chance(value: float) -> None:
    # constant, empty, or without positive mass: both halves hold the same positive mass -> 0.5
    evidence = torch.tensor([False] * 4 + [True] * 4)
    assert score_pair(torch.full((1, 8, 2, 2), value), evidence, 1, "p").half == 0.5
