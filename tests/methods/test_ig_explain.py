"""`IntegratedGradients.explain(..., return_gap=True)` carries the gap that `attribute` returns."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.base import Attributor
from videoattr.core.targets import Target
from videoattr.methods import IntegratedGradients


def test_explain_with_return_gap_carries_the_gap_of_attribute() -> None:
    model = tiny_cnn3d(num_classes=4)
    x = clip(b=2, t=4, h=8, w=8, seed=1)
    ig = IntegratedGradients(model, steps=6, progress=False)
    maps, gap = ig.attribute(x, 1, return_gap=True)
    e = ig.explain(x, 1, return_gap=True)
    assert isinstance(e.maps, Tensor)
    torch.testing.assert_close(e.maps, maps, rtol=0, atol=0)
    torch.testing.assert_close(e.extras["gap"], gap, rtol=0, atol=0)
    assert e.extras["gap"].shape == (2,)
    # the gap is sum(attr) - (f(x) - f(x0)), computed independently here
    raw = IntegratedGradients(model, steps=6, reduction=None, progress=False).attribute(x, 1)
    with torch.no_grad():
        delta = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    torch.testing.assert_close(e.extras["gap"], raw.flatten(1).sum(1) - delta)
    assert "gap" not in ig.explain(x, 1).extras
    assert "gap" in repr(e)


def test_explain_with_return_gap_and_per_call_options_and_several_targets() -> None:
    model = tiny_cnn3d(num_classes=4)
    x = clip(b=2, t=4, h=8, w=8, seed=2)
    ig = IntegratedGradients(model, steps=6, progress=False)
    e = ig.explain(x, "top2", return_gap=True, steps=3)
    maps, gap = IntegratedGradients(model, steps=3, progress=False).attribute(
        x, "top2", return_gap=True
    )
    torch.testing.assert_close(e.maps, maps, rtol=0, atol=0)
    torch.testing.assert_close(e.extras["gap"], gap, rtol=0, atol=0)
    assert e.extras["gap"].shape == (2, 2)
    assert e.config["steps"] == 3 and ig.steps == 6


def test_explain_refuses_an_attribute_that_returns_no_tensor() -> None:
    class Pair(Attributor):
        def attribute(self, x: Tensor, target: Target = None, **overrides: object) -> object:
            return x, x

    with pytest.raises(TypeError, match=r"Pair\.attribute returned a tuple"):
        Pair(nn.Sequential(nn.Flatten(), nn.Linear(96, 2))).explain(clip(b=1, t=2, h=4, w=4))
