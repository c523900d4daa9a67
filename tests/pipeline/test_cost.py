"""The cost said before work counts the forwards and the backward passes a method really runs."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from videoattr import zoo
from videoattr.pipeline import as_method, explain_clip
from videoattr.pipeline.cost import method_cost


@pytest.mark.parametrize("name", ["attention_rollout", "attention_relevance"])
def test_attention_methods_count_their_backward_passes(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = zoo.load("demo-transformer").eval()
    x = torch.randn(1, 3, int(adapter.clip_len), *adapter.size)
    method = as_method(name, adapter)
    rows: list[int] = []
    grads: list[int] = []
    real_grad = torch.autograd.grad

    def grad(*args: Any, **kwargs: Any) -> Any:
        grads.append(1)
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", grad)
    handle = adapter.register_forward_pre_hook(lambda _m, i: rows.append(int(i[0].shape[0])))
    try:
        explain_clip(adapter, method, x, 0)
    finally:
        handle.remove()
    cost = method_cost(method, x.shape[1:])
    assert cost.exact and sum(rows) == cost.total
    assert len(grads) == cost.backwards  # rollout: none; relevance: one


@pytest.mark.parametrize(
    "name,options,areas",
    [("step", {}, None), ("ep2d", {}, (0.1, 0.2)), ("ep3d", {"variant": "dual"}, (0.05, 0.2))],
)
def test_perturbation_methods_count_every_forward(
    name: str, options: dict[str, Any], areas: tuple[float, ...] | None
) -> None:
    """The optimisation's forwards, the warm start's gradient map, and per area the final clip the
    last iteration did not score (the deleted one; none for "dual"): the pipeline reads the preserved
    probabilities from the optimiser."""
    adapter = zoo.load("demo").eval()
    x = torch.randn(1, 3, 16, 56, 56)
    method = as_method(
        name, adapter, {"preset": "fast", "max_iter": 3, "progress": False, **options}, areas=areas
    )
    rows: list[int] = []
    handle = adapter.register_forward_pre_hook(lambda _m, i: rows.append(int(i[0].shape[0])))
    try:
        explain_clip(adapter, method, x, 0)
    finally:
        handle.remove()
    cost = method_cost(method, x.shape[1:])
    a = len(areas or (0.1,))
    warm = 1  # the fast preset's warm start: one gradient map per clip
    assert cost.backwards == 3 * a * (2 if options.get("variant") == "dual" else 1) + warm
    assert sum(rows) == cost.total
    dual = options.get("variant") == "dual"
    assert cost.forwards == 1 + (0 if dual else a)
