"""RISE: the closed-form weighted average of the masks, seeding, batching, the masks themselves, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.methods import RISE, build_attributor, method_info
from videoattr.methods._memory import FORWARD_BATCH
from videoattr.methods.rise import MASK_BLOCK, rise_masks


class Counting(nn.Module):
    """Records the number of rows of every forward."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.rows: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.rows.append(x.shape[0])
        out: Tensor = self.net(x)
        return out


def weighted_average(
    model: nn.Module,
    x: Tensor,
    target: list[int],
    masks: Tensor,
    p: float,
    base: float,
    softmax: bool,
) -> Tensor:
    """The RISE map written out: sum_i score(x * M_i + base * (1 - M_i)) M_i / (m p), one mask at a time."""
    out = torch.zeros(x.shape[0], 1, *x.shape[2:], dtype=x.dtype)
    with torch.no_grad():
        for m in masks:
            logits = model(x * m + base * (1 - m))
            scores = logits.softmax(1) if softmax else logits
            s = scores[torch.arange(x.shape[0]), target]
            out += s.view(-1, 1, 1, 1, 1) * m
    return out / (masks.shape[0] * p)


@pytest.mark.parametrize("softmax", [True, False])
def test_given_masks_give_the_closed_form(softmax: bool) -> None:
    model = tiny_cnn3d().double().eval()
    x = clip(b=2, t=6, h=10, w=10).double()
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(13, 1, 6, 10, 10, generator=g, dtype=torch.float64)
    rise = RISE(model, p=0.3, baseline=-0.5, softmax=softmax, max_batch_size=5, progress=False)
    maps = rise.attribute(x, [1, 4], masks=masks)
    expected = weighted_average(model, x, [1, 4], masks, 0.3, -0.5, softmax)
    torch.testing.assert_close(maps, expected, rtol=1e-10, atol=1e-12)
    # 4-D masks are read as (m, T, H, W)
    torch.testing.assert_close(rise.attribute(x, [1, 4], masks=masks[:, 0]), maps)


def test_drawn_masks_are_the_ones_reported() -> None:
    model = tiny_cnn3d().double().eval()
    x = clip(b=2, t=8, h=12, w=12).double()
    rise = RISE(model, n=40, grid=(2, 3, 3), p=0.4, seed=7, max_batch_size=16, progress=False)
    masks = rise.masks((8, 12, 12))
    assert masks.shape == (40, 1, 8, 12, 12)
    expected = weighted_average(model, x, [0, 2], masks.double(), 0.4, 0.0, False)
    torch.testing.assert_close(rise.attribute(x, [0, 2]), expected, rtol=1e-6, atol=1e-8)


def test_result_does_not_depend_on_max_batch_size_or_the_other_clips() -> None:
    model = Counting(tiny_cnn3d().double())
    x = clip(b=3, t=8, h=12, w=12).double()
    rise = RISE(model, n=70, grid=(2, 3, 3), progress=False)
    reference = rise.attribute(x, [0, 1, 2], max_batch_size=None)
    assert model.rows == [3, 3 * 70]
    for size in (1, 7, 64):
        model.rows.clear()
        torch.testing.assert_close(rise.attribute(x, [0, 1, 2], max_batch_size=size), reference)
        assert max(model.rows) <= size and sum(model.rows) == 3 + 3 * 70
    torch.testing.assert_close(rise.attribute(x[2:], [2], max_batch_size=5), reference[2:])


def test_one_seed_same_maps_two_seeds_different_maps() -> None:
    model = tiny_cnn3d().double().eval()
    x = clip(b=1, t=8, h=12, w=12).double()
    rise = RISE(model, n=30, grid=(2, 3, 3), progress=False)
    a = rise.attribute(x, 1, seed=3)
    torch.testing.assert_close(rise.attribute(x, 1, seed=3), a, rtol=0, atol=0)
    b = rise.attribute(x, 1, seed=4)
    assert (a - b).abs().max() > 1e-3
    c, d = rise.attribute(x, 1, seed=None), rise.attribute(x, 1, seed=None)
    assert (c - d).abs().max() > 1e-3


def test_masks() -> None:
    size, grid = (8, 20, 12), (2, 5, 3)
    masks = rise_masks(0, size, grid, 0.5, 0, 2 * MASK_BLOCK + 10)
    assert masks.shape == (2 * MASK_BLOCK + 10, 1, *size)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    # smooth: neighbouring voxels differ by at most one cell's linear step
    steps = (1 / 4, 1 / 4, 1 / 4)  # cells of ceil(8/2), ceil(20/5), ceil(12/3) = 4 voxels
    for axis, step in zip((2, 3, 4), steps, strict=True):
        assert float(masks.diff(dim=axis).abs().max()) <= step + 1e-6
    # E[M] = p: the mean over many masks is close to p everywhere
    assert abs(float(masks.mean()) - 0.5) < 0.02
    assert float((masks.mean(0) - 0.5).abs().max()) < 0.15
    more = rise_masks(0, size, grid, 0.2, 0, 600)
    assert abs(float(more.mean()) - 0.2) < 0.02
    # mask i is the same whatever range it is asked in (across block boundaries too)
    for start, stop in [
        (MASK_BLOCK - 3, MASK_BLOCK + 5),
        (5, 6),
        (2 * MASK_BLOCK, 2 * MASK_BLOCK + 10),
    ]:
        assert torch.equal(rise_masks(0, size, grid, 0.5, start, stop), masks[start:stop])
    assert not torch.equal(rise_masks(1, size, grid, 0.5, 0, 10), masks[:10])
    assert rise_masks(0, size, grid, 0.5, 4, 4).shape == (0, 1, *size)
    # the random shift: masks are not all aligned with the cell grid
    assert len({tuple(m.flatten()[:50].tolist()) for m in masks[:20]}) == 20


def test_several_targets_come_from_the_same_forwards() -> None:
    model = Counting(tiny_cnn3d().double())
    x = clip(b=2, t=8, h=12, w=12).double()
    rise = RISE(model, n=20, grid=(2, 3, 3), progress=False)
    both = rise.attribute(x, torch.tensor([[1, 3], [0, 2]]))
    assert both.shape == (2, 2, 1, 8, 12, 12) and sum(model.rows) == 2 + 2 * 20
    torch.testing.assert_close(both[:, 0], rise.attribute(x, [1, 0]))
    torch.testing.assert_close(both[:, 1], rise.attribute(x, [3, 2]))


def test_defaults_and_registry() -> None:
    rise = build_attributor("RISE", tiny_cnn3d())
    assert isinstance(rise, RISE)
    assert (rise.n, rise.grid, rise.p, rise.seed, rise.baseline) == (2000, (4, 7, 7), 0.5, 0, 0.0)
    assert rise.max_batch_size == FORWARD_BATCH == 16 and not rise.softmax
    assert method_info("rise").kind == "black_box"
    record = rise.config()
    assert record["method"] == "rise" and record["grid"] == [4, 7, 7] and record["n"] == 2000


def test_bad_input_is_named() -> None:
    model = tiny_cnn3d()
    x = clip(b=1, t=4, h=12, w=12)
    with pytest.raises(
        ValueError, match=r"p must be a probability strictly inside \(0, 1\); got 1.0"
    ):
        RISE(model, p=1.0)
    with pytest.raises(ValueError, match="n must be an int >= 1; got 0"):
        RISE(model, n=0)
    with pytest.raises(ValueError, match=r"grid must be .* positive ints; got \(4, 0, 7\)"):
        RISE(model, grid=(4, 0, 7))
    with pytest.raises(
        ValueError,
        match=r"grid must have at most one cell per voxel: .* \(4, 12, 12\); got grid \(4, 7, 13\)",
    ):
        RISE(model, grid=(4, 7, 13), progress=False).attribute(x, 0)
    rise = RISE(model, n=4, grid=(2, 3, 3), progress=False)
    with pytest.raises(
        ValueError,
        match=r"masks must have shape \(m, 1, 4, 12, 12\) with m >= 1; got shape \(3, 1, 4, 12, 11\)",
    ):
        rise.attribute(x, 0, masks=torch.ones(3, 1, 4, 12, 11))
    with pytest.raises(ValueError, match=r"masks must hold values in \[0, 1\]"):
        rise.attribute(x, 0, masks=torch.full((3, 1, 4, 12, 12), 1.5))
    with pytest.raises(TypeError, match="masks must be a floating-point tensor"):
        rise.attribute(x, 0, masks=torch.ones(3, 1, 4, 12, 12, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"baseline must be broadcastable"):
        rise.attribute(x, 0, baseline=torch.zeros(2, 3, 1, 1, 1))
    with pytest.raises(TypeError, match="seed must be an int or None"):
        RISE(model, seed=1.5)  # type: ignore[arg-type]


def test_softmax_scores_probabilities_and_callables_receive_them() -> None:
    model = tiny_cnn3d().double().eval()
    x = clip(b=2, t=8, h=12, w=12).double()
    rise = RISE(model, n=10, grid=(2, 3, 3), softmax=True, progress=False)
    masks = rise.masks((8, 12, 12)).double()
    expected = weighted_average(model, x, [3, 3], masks, 0.5, 0.0, True)
    torch.testing.assert_close(rise.attribute(x, 3), expected, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(rise.attribute(x, lambda probs: probs[:, 3]), rise.attribute(x, 3))
