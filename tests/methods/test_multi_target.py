"""Several targets per clip: a (B, K) tensor or "topK" inserts a target axis after the batch axis."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.targets import expand_targets, fold_targets
from videoattr.methods import Saliency, build_attributor

B, T, H, W = 2, 4, 12, 12

# one row per forward: a multi-target call and single-target calls run the very same forwards
EXACT: dict[str, dict[str, Any]] = {
    "saliency": {"max_batch_size": 1},
    "input_x_gradient": {"max_batch_size": 1},
    "integrated_gradients": {"steps": 3, "max_batch_size": 1},
    "smoothgrad": {"n": 2, "max_batch_size": 1},
    "grad_cam": {"layer": "2", "max_batch_size": 1},
}


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_cnn3d()


@pytest.fixture(scope="module")
def x() -> Tensor:
    return clip(b=B, t=T, h=H, w=W, seed=4)


@pytest.mark.parametrize("name", list(EXACT))
def test_each_target_map_equals_a_single_target_call(
    name: str, model: nn.Module, x: Tensor
) -> None:
    attributor = build_attributor(name, model, **EXACT[name])
    targets = torch.tensor([[0, 3, 1], [4, 4, 2]])
    maps = attributor.attribute(x, targets)
    assert maps.shape == (B, 3, 1, T, H, W)
    for k in range(3):
        single = attributor.attribute(x, targets[:, k])
        assert single.shape == (B, 1, T, H, W)
        torch.testing.assert_close(maps[:, k], single, rtol=0, atol=0)
    assert not torch.equal(maps[:, 0], maps[:, 2])


@pytest.mark.parametrize("name", list(EXACT))
@pytest.mark.parametrize("request_form", ["top3", "topk:3", "TOP3"])
def test_topk_request_is_the_models_best_classes(
    name: str, request_form: str, model: nn.Module, x: Tensor
) -> None:
    attributor = build_attributor(name, model, **EXACT[name])
    with torch.no_grad():
        best = model(x).topk(3, dim=1).indices
    torch.testing.assert_close(
        attributor.attribute(x, request_form), attributor.attribute(x, best), rtol=0, atol=0
    )


def test_rows_run_through_the_ordinary_batching(x: Tensor) -> None:
    sizes: list[int] = []

    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn3d()

        def forward(self, inp: Tensor) -> Tensor:
            sizes.append(inp.shape[0])
            out: Tensor = self.net(inp)
            return out

    model = Counting()
    Saliency(model, max_batch_size=None).attribute(x, torch.tensor([[0, 1, 2], [3, 4, 0]]))
    assert sizes == [B * 3]  # unbounded: one forward of B*K rows, not a loop of calls
    sizes.clear()
    Saliency(model, max_batch_size=4).attribute(x, "top3")
    assert sizes == [B, 4, 2]  # the clean forward that finds the top 3, then 6 rows in chunks of 4
    sizes.clear()
    build_attributor("ig", model, steps=2, max_batch_size=8).attribute(
        x, torch.tensor([[0, 1], [2, 3]])
    )
    assert sizes == [8]  # 2 steps x 4 rows


def test_ig_gap_and_per_clip_baselines_follow_the_target_axis(model: nn.Module, x: Tensor) -> None:
    baseline = torch.stack([torch.full_like(x[0], -0.5), torch.full_like(x[1], 0.5)])
    ig = build_attributor("ig", model, steps=4, baseline=baseline, max_batch_size=1)
    targets = torch.tensor([[1, 2], [3, 0]])
    maps, gap = ig.attribute(x, targets, return_gap=True)
    assert maps.shape == (B, 2, 1, T, H, W) and gap.shape == (B, 2)
    for k in range(2):
        single, single_gap = ig.attribute(x, targets[:, k], return_gap=True)
        torch.testing.assert_close(maps[:, k], single, rtol=0, atol=0)
        torch.testing.assert_close(gap[:, k], single_gap, rtol=0, atol=0)


def test_explanation_reports_every_target(model: nn.Module, x: Tensor) -> None:
    result = build_attributor("saliency", model).explain(x, "top2")
    with torch.no_grad():
        probs = model(x).softmax(1)
    top = probs.topk(2, dim=1)
    assert torch.equal(result.target, top.indices)
    torch.testing.assert_close(result.target_probability, top.values)
    assert torch.equal(result.prediction, probs.argmax(1))
    assert result.maps.shape == (B, 2, 1, T, H, W)
    text = repr(result)
    assert "maps=(2, 2, 1, 4, 12, 12)" in text and "tensor(" not in text and len(text) < 400


def test_expand_and_fold_helpers() -> None:
    x = torch.arange(2.0).view(2, 1, 1, 1, 1).expand(2, 3, 2, 2, 2)
    rows, idx, k = expand_targets(x, torch.tensor([[4, 1, 0], [2, 2, 3]]), lambda c: c)
    assert k == 3 and idx.tolist() == [4, 1, 0, 2, 2, 3]
    assert rows[:, 0, 0, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    folded = fold_targets(rows, k)
    assert folded.shape == (2, 3, 3, 2, 2, 2) and torch.equal(folded[1, 2], x[1])
    assert expand_targets(x, [1, 2], lambda c: c) is None
    assert expand_targets(x, torch.tensor([1, 2]), lambda c: c) is None


@pytest.mark.parametrize(
    "target,exc,msg",
    [
        (torch.tensor([[0, 1], [1, 2], [2, 3]]), ValueError, r"shape \(2, K\) with K >= 1"),
        (torch.zeros(2, 0, dtype=torch.long), ValueError, r"K >= 1"),
        (torch.zeros(2, 2), TypeError, "integer class indices"),
        ("top9", ValueError, "asks for 9 classes but the model has 5"),
        ("best3", ValueError, "top-k request"),
        (torch.tensor([[0, 7], [1, 2]]), ValueError, r"class indices in \[0, 4\]"),
    ],
)
def test_bad_multi_targets_are_named(
    target: object, exc: type[Exception], msg: str, model: nn.Module, x: Tensor
) -> None:
    for name in ("saliency", "grad_cam"):
        options = {"layer": "2"} if name == "grad_cam" else {}
        with pytest.raises(exc, match=msg):
            build_attributor(name, model, **options).attribute(x, target)
