from __future__ import annotations

import pytest
import torch

from videoattr.metrics import evidence_frame_share, half_grounding, join_clips, temporal_grounding
from videoattr.metrics.grounding import frame_mass


def test_frame_with_most_attribution_must_hold_evidence() -> None:
    maps = torch.zeros(3, 1, 6, 4, 4)
    maps[0, 0, 2] = 1.0  # peak in frame 2
    maps[1, 0, 5, 0, 0] = 3.0  # peak in frame 5
    maps[2] = 1.0  # flat over time: tie between all frames, the middle one (2 or 3) wins
    evidence = torch.zeros(3, 6, dtype=torch.bool)
    evidence[:, 1:4] = True
    assert temporal_grounding(maps, evidence).tolist() == [True, False, True]
    # an evidence mask (B, 1, T, H, W) works the same way
    mask = evidence.view(3, 1, 6, 1, 1).expand(3, 1, 6, 4, 4)
    assert temporal_grounding(maps, mask).tolist() == [True, False, True]
    # negative values do not count as mass
    signed = maps.clone()
    signed[0, 0, 4] = -10.0
    assert temporal_grounding(signed, evidence)[0].item()
    assert not temporal_grounding(signed, evidence, polarity="absolute")[0].item()


def test_random_maps_ground_at_chance() -> None:
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(400, 1, 8, 2, 2, generator=g)
    evidence = torch.zeros(400, 8, dtype=torch.bool)
    evidence[:, :2] = True  # a quarter of the frames
    rate = temporal_grounding(maps, evidence).float().mean().item()
    assert abs(rate - 0.25) < 0.08


def test_half_grounding_on_joined_clips() -> None:
    a = torch.randn(3, 3, 4, 8, 8)
    b = torch.randn(3, 3, 4, 8, 8)
    joined = join_clips(a, b)
    assert joined.shape == (3, 3, 8, 8, 8)
    assert torch.equal(joined[:, :, :4], a) and torch.equal(joined[:, :, 4:], b)
    maps = torch.zeros(3, 1, 8, 8, 8)
    maps[0, :, :4] = 1.0  # points at the first half
    maps[1, :, 6] = 1.0  # second half
    # clip 2: equal halves
    score = half_grounding(maps, torch.tensor([0, 0, 1]))
    assert score.tolist() == [1.0, 0.0, 0.5]
    assert frame_mass(maps)[0].tolist() == [64.0] * 4 + [0.0] * 4


def test_errors() -> None:
    maps = torch.zeros(2, 1, 6, 4, 4)
    with pytest.raises(ValueError, match="evidence"):
        temporal_grounding(maps, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="evidence_half"):
        half_grounding(maps, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="first and second"):
        join_clips(torch.zeros(2, 3, 4, 8, 8), torch.zeros(2, 3, 4, 8, 9))


def test_ground_truth_of_half_clips_grounds_perfectly() -> None:
    from videoattr.datasets import SyntheticMotion

    batch = SyntheticMotion(clip_len=8, size=24, seed=5, evidence="half").sample(6)
    # the evidence is in the second half when frame 0 lacks it
    half = (~batch.evidence_frames[:, 0]).long()
    gt_maps = batch.masks.float()
    assert half_grounding(gt_maps, half).tolist() == [1.0] * 6
    assert half_grounding(1 - gt_maps, half).tolist() == [0.0] * 6
    assert temporal_grounding(gt_maps, batch.evidence_frames).all()


def test_evidence_frame_share_against_direct_sum() -> None:
    g = torch.Generator().manual_seed(1)
    maps = torch.randn(5, 2, 6, 3, 4, generator=g, dtype=torch.float64)
    evidence = torch.rand(5, 6, generator=g) > 0.5
    evidence[0] = False  # no evidence frame: share 0
    share = evidence_frame_share(maps, evidence)
    for i in range(5):
        summed = maps[i].sum(0)  # areas summed first, then the positive part per voxel
        per_frame = [float(summed[t].clamp_min(0).sum()) for t in range(6)]
        inside = sum(m for m, e in zip(per_frame, evidence[i].tolist(), strict=True) if e)
        assert share[i].item() == pytest.approx(inside / sum(per_frame), abs=1e-6)
    assert share[0].item() == 0.0
    absolute = evidence_frame_share(maps, evidence, polarity="absolute")
    expected = (maps.sum(1).abs().flatten(2).sum(2) * evidence).sum(1) / maps.sum(1).abs().sum(
        (1, 2, 3)
    )
    torch.testing.assert_close(absolute, expected.float())


def test_evidence_frame_share_closed_forms() -> None:
    evidence = torch.tensor([[True, True, False, False, False, False, False, False]])
    flat = torch.ones(1, 1, 8, 2, 2)
    assert evidence_frame_share(flat, evidence).item() == pytest.approx(2 / 8)
    inside = torch.zeros(1, 1, 8, 2, 2)
    inside[:, :, :2] = 3.0
    assert evidence_frame_share(inside, evidence).item() == 1.0
    assert evidence_frame_share(-flat, evidence).isnan().all()  # no positive mass
    mask = evidence.view(1, 1, 8, 1, 1).expand(1, 1, 8, 2, 2)
    assert evidence_frame_share(flat, mask).item() == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match="evidence"):
        evidence_frame_share(flat, evidence[:, :4])
