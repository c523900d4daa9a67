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
