from __future__ import annotations

import pytest
import torch

from videoattr.core.model_checks import check_logits
from videoattr.core.targets import resolve_target


def test_forms_resolve_to_indices() -> None:
    assert resolve_target(3, 2).indices.tolist() == [3, 3]  # type: ignore[union-attr]
    assert resolve_target([1, 2], 2).indices.tolist() == [1, 2]  # type: ignore[union-attr]
    assert resolve_target(torch.tensor([4, 0]), 2).indices.tolist() == [4, 0]  # type: ignore[union-attr]
    assert resolve_target(torch.tensor(2), 3).indices.tolist() == [2, 2, 2]  # type: ignore[union-attr]
    top = resolve_target(None, 2)
    assert top.needs_logits
    logits = torch.tensor([[0.0, 2.0, 1.0], [5.0, 0.0, 1.0]])
    assert top.with_logits(logits).indices.tolist() == [1, 0]  # type: ignore[union-attr]


def test_scores_with_clip_index() -> None:
    t = resolve_target([2, 0], 2)
    logits = torch.arange(12.0).view(4, 3)
    out = t.score(logits, torch.tensor([0, 1, 0, 1]))
    assert out.tolist() == [2.0, 3.0, 8.0, 9.0]
    lp = t.log_prob(logits, torch.tensor([0, 1, 0, 1]))
    torch.testing.assert_close(lp, torch.log_softmax(logits, 1)[[0, 1, 2, 3], [2, 0, 2, 0]])


def test_callable_target_is_checked() -> None:
    t = resolve_target(lambda z: z[:, 0] - z[:, 1], 2)
    assert t.score(torch.ones(2, 3)).tolist() == [0.0, 0.0]
    bad = resolve_target(lambda z: z, 2)
    with pytest.raises(ValueError, match=r"\(2,\) tensor"):
        bad.score(torch.ones(2, 3))


@pytest.mark.parametrize(
    "target,exc,msg",
    [
        ([1], ValueError, "length 2"),
        (torch.tensor([[1, 2]]), ValueError, r"shape \(2,\)"),
        (torch.tensor([1.0, 2.0]), TypeError, "integer"),
        ("cat", ValueError, "top-k request"),
        ("top0", ValueError, "k >= 1"),
        (True, TypeError, "target must be"),
        ([1.5, 2], TypeError, "ints"),
    ],
)
def test_bad_targets(target: object, exc: type[Exception], msg: str) -> None:
    with pytest.raises(exc, match=msg):
        resolve_target(target, 2)  # type: ignore[arg-type]


def test_out_of_range_index() -> None:
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        resolve_target(3, 2).with_logits(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        resolve_target(-1, 2).score(torch.zeros(2, 3))


def test_check_logits() -> None:
    with pytest.raises(TypeError, match="tuple"):
        check_logits((torch.zeros(2, 3),), 2)
    with pytest.raises(ValueError, match=r"B = 2"):
        check_logits(torch.zeros(3, 3), 2)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        check_logits(torch.zeros(2, 3, 1), 2)
