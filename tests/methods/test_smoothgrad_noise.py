"""SmoothGrad's noise belongs to the clip: the same clip gets the same noise in any batch."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.seeds import clip_seed
from videoattr.methods import IntegratedGradients, Saliency, SmoothGrad


def test_same_clip_same_noise_in_any_batch() -> None:
    model = tiny_cnn3d()
    x = clip(b=3, t=4, h=12, w=12, seed=5)
    sg = SmoothGrad(Saliency(model), n=4, seed=7)
    batch_noise = sg.noise(x, keys=["a", "b", "c"])
    alone = sg.noise(x[1:2], keys=["b"])
    assert batch_noise.shape == (4, 3, *x.shape[1:])
    torch.testing.assert_close(alone[:, 0], batch_noise[:, 1], rtol=0, atol=0)
    # default keys are positions: clip 1 of the batch is keyed 1
    torch.testing.assert_close(sg.noise(x[1:2], keys=[1])[:, 0], sg.noise(x)[:, 1], rtol=0, atol=0)
    # different clips, keys and seeds draw different noise
    assert not torch.equal(batch_noise[:, 0] / x[0].std(), batch_noise[:, 1] / x[1].std())
    other_seed = SmoothGrad(Saliency(model), n=4, seed=8).noise(x, keys=["a", "b", "c"])
    assert not torch.allclose(other_seed, batch_noise)
    assert clip_seed(7, 1) != clip_seed(7, "1") != clip_seed(8, 1)


@pytest.mark.parametrize("inner", ["saliency", "ig"])
def test_same_clip_same_map_in_a_batch_of_one_and_of_three(inner: str) -> None:
    model = tiny_cnn3d()
    x = clip(b=3, t=4, h=12, w=12, seed=5)
    wrapped = (
        Saliency(model, max_batch_size=1)
        if inner == "saliency"
        else IntegratedGradients(model, steps=3, max_batch_size=1)
    )
    # one row per forward on both sides, so the comparison is exact
    sg = SmoothGrad(wrapped, n=3, variant="square", seed=3, max_batch_size=1)
    batch = sg.attribute(x, [0, 1, 2], keys=[10, 11, 12])
    alone = sg.attribute(x[1:2], [1], keys=[11])
    torch.testing.assert_close(alone[0], batch[1], rtol=0, atol=0)
    # and the key, not the position, decides: the same clip first in another batch
    swapped = sg.attribute(x[[1, 0]], [1, 0], keys=[11, 10])
    torch.testing.assert_close(swapped[0], batch[1], rtol=0, atol=0)
    # another key gives other noise, hence another map
    moved = sg.attribute(x[1:2], [1], keys=[99])
    assert not torch.allclose(moved[0], batch[1])


def test_noise_does_not_depend_on_max_batch_size() -> None:
    model = tiny_cnn3d()
    x = clip(b=2, t=4, h=12, w=12, seed=1)
    a = SmoothGrad(Saliency(model), n=5, max_batch_size=None).attribute(x, 1)
    b = SmoothGrad(Saliency(model), n=5, max_batch_size=3).attribute(x, 1)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_explicit_noise_is_what_gets_added() -> None:
    model = tiny_cnn3d()
    x = clip(b=2, t=4, h=12, w=12, seed=1)
    sg = SmoothGrad(Saliency(model, reduction=None), n=2, max_batch_size=1)
    noise = sg.noise(x)
    torch.testing.assert_close(sg.attribute(x, 1, noise=noise), sg.attribute(x, 1), rtol=0, atol=0)
    by_hand = sum(Saliency(model, reduction=None).attribute(x + noise[i], 1) for i in range(2)) / 2
    torch.testing.assert_close(sg.attribute(x, 1), by_hand, rtol=1e-5, atol=1e-8)


def test_bad_keys_are_named() -> None:
    sg = SmoothGrad(Saliency(tiny_cnn3d()), n=2)
    x = clip(b=2, t=4, h=8, w=8)
    with pytest.raises(
        ValueError, match=r"keys must have one key per clip \(length 2\); got length 1"
    ):
        sg.attribute(x, 0, keys=[1])
    with pytest.raises(TypeError, match="keys must hold ints or strings"):
        sg.attribute(x, 0, keys=[1.5, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="keys must be a sequence"):
        sg.attribute(x, 0, keys="ab")
