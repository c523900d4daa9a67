from __future__ import annotations

import pytest
import torch

from videoattr.datasets import MEAN, STD, SyntheticMotion


def _data(**kw: object) -> SyntheticMotion:
    opts: dict[str, object] = {"num_classes": 4, "clip_len": 8, "size": 32, "seed": 0}
    opts.update(kw)
    return SyntheticMotion(**opts)  # type: ignore[arg-type]


def test_deterministic_under_a_seed_and_independent_of_draw_order() -> None:
    a, b = _data().sample(6), _data().sample(6)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.masks, b.masks)
    part = _data().sample(3, start=2)
    assert torch.equal(part.frames, a.frames[2:5]) and torch.equal(part.labels, a.labels[2:5])
    other = _data(seed=1).sample(6)
    assert not torch.equal(other.frames, a.frames)
    clip, label, mask = _data()[4]
    torch.testing.assert_close(clip, a.clips[4])
    assert label == int(a.labels[4]) and torch.equal(mask, a.masks[4])


def test_shapes_dtypes_and_normalisation() -> None:
    data = _data(evidence="full")
    batch = data.sample(4)
    assert batch.clips.shape == (4, 3, 8, 32, 32) and batch.clips.dtype == torch.float32
    assert batch.masks.shape == (4, 1, 8, 32, 32) and batch.masks.dtype == torch.bool
    assert batch.frames.shape == (4, 8, 32, 32, 3) and batch.frames.dtype == torch.uint8
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1, 1), torch.tensor(STD).view(1, 3, 1, 1, 1)
    expected = (batch.frames.permute(0, 4, 1, 2, 3).float() / 255 - mean) / std
    torch.testing.assert_close(batch.clips, expected)
    assert data.class_names == ["right", "down", "left", "up"]
    assert _data(num_classes=8).class_names[1] == "down-right"
    assert len(batch) == 4 and not bool(batch.partial.any())


def test_labels_are_balanced() -> None:
    labels = _data(num_classes=8).sample(24).labels
    assert torch.bincount(labels, minlength=8).tolist() == [3] * 8


def test_ground_truth_covers_exactly_the_red_object() -> None:
    batch = _data(evidence="mixed").sample(8)
    rgb = batch.frames.float() / 255
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.35) & (rgb[..., 2] < 0.35)  # (N, T, H, W)
    mask = batch.masks[:, 0]
    assert bool(red[mask].all())  # every ground-truth pixel shows the evidence object
    assert int((red & ~mask).sum()) == 0  # and nothing else is red
    assert torch.equal(mask.flatten(2).any(2), batch.evidence_frames)


def test_motion_of_the_ground_truth_matches_the_label() -> None:
    data = _data(evidence="full", clip_len=8, size=48)
    batch = data.sample(8)
    ys = torch.arange(48, dtype=torch.float32).view(1, 48, 1)
    xs = torch.arange(48, dtype=torch.float32).view(1, 1, 48)
    for i in range(8):
        m = batch.masks[i, 0].float()
        cy = (m * ys).flatten(1).sum(1) / m.flatten(1).sum(1)
        cx = (m * xs).flatten(1).sum(1) / m.flatten(1).sum(1)
        dy, dx = float(cy[-1] - cy[0]), float(cx[-1] - cx[0])
        name = data.class_names[int(batch.labels[i])]
        moved = {"right": dx, "left": -dx, "down": dy, "up": -dy}[name]
        assert moved > 5.0, (name, dx, dy)


@pytest.mark.parametrize("evidence", ["partial", "half"])
def test_evidence_in_some_frames(evidence: str) -> None:
    batch = _data(evidence=evidence, clip_len=16).sample(12)
    assert bool(batch.partial.all())
    for frames in batch.evidence_frames:
        idx = frames.nonzero().flatten().tolist()
        assert idx == list(range(idx[0], idx[-1] + 1))  # one contiguous window
        if evidence == "half":
            assert idx in (list(range(8)), list(range(8, 16)))
        else:
            assert 4 <= len(idx) <= 8


def test_mixed_holds_both_layouts() -> None:
    partial = _data(evidence="mixed").sample(24).partial
    assert 0 < int(partial.sum()) < 24


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticMotion(num_classes=3)
    with pytest.raises(ValueError, match="evidence"):
        SyntheticMotion(evidence="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        SyntheticMotion(size=8)
    with pytest.raises(IndexError):
        _data(length=5)[5]
