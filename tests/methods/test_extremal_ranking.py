"""The selection that replaces the area and smoothness sorts picks exactly the entries the sort would."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from videoattr.methods.extremal.objectives import AreaTerm, SmoothnessTerm, area_reference
from videoattr.methods.extremal.ranking import top_indicator


def sorted_indicator(
    values: Tensor, count: Tensor, descending: bool, tie_break: str, perm: Tensor | None
) -> Tensor:
    """The indicator read off a full sort of every row (the definition the selection reproduces)."""
    n, size = values.shape
    if tie_break == "random":
        assert perm is not None
        order = perm[torch.sort(values[:, perm], dim=1, descending=descending, stable=True).indices]
    else:
        order = torch.sort(
            values, dim=1, descending=descending, stable=tie_break == "stable"
        ).indices
    top = torch.zeros(n, size, dtype=torch.bool)
    for i in range(n):
        c = int(count[i])
        picked = order[i, :c] if descending else order[i, size - c :]
        top[i, picked] = True
    return top


@pytest.mark.parametrize("tie_break", ["sort", "stable", "random"])
@pytest.mark.parametrize("descending", [False, True])
def test_selection_equals_the_sort(tie_break: str, descending: bool) -> None:
    g = torch.Generator().manual_seed(0)
    size = 3000  # long enough for the default sort to reorder equal values
    # plateaus of equal values (clamped masks) plus distinct values
    values = torch.rand(12, size, generator=g)
    values[:, : size // 2] = torch.randint(0, 4, (12, size // 2), generator=g) / 3
    values = values[:, torch.randperm(size, generator=g)]
    count = torch.tensor([0, 1, 7, 300, 1500, 1499, 1501, 2000, 2999, 3000, 750, 2250])
    perm = torch.randperm(size, generator=g)
    expected = sorted_indicator(values, count, descending, tie_break, perm)
    got = top_indicator(
        values,
        count,
        descending=descending,
        tie_break=tie_break,
        permutation=perm,  # type: ignore[arg-type]
    )
    assert torch.equal(got.sum(1), count)
    assert torch.equal(got, expected)


def test_random_needs_a_permutation() -> None:
    with pytest.raises(ValueError, match="permutation"):
        top_indicator(torch.zeros(1, 4), torch.tensor([2]), descending=False, tie_break="random")


@pytest.mark.parametrize("tie_break", ["sort", "stable", "random"])
def test_terms_equal_their_sorted_definitions(tie_break: str) -> None:
    """Area and smoothness terms: values and gradients of the sorted forms of the paper (float64)."""
    torch.manual_seed(1)
    n, t, hp, wp = 4, 8, 24, 24
    padded = torch.rand(n, t, hp, wp, dtype=torch.float64)
    padded[padded > 0.7] = 1.0  # clamped plateaus
    padded[padded < 0.1] = 0.0
    area_index = torch.tensor([0, 1, 0, 1])
    areas = [0.1, 0.3]
    for mode in ("clip", "frame"):
        term = AreaTerm(areas, t, (hp, wp), mode)
        perm = torch.randperm(term.num_values)
        x = padded.clone().requires_grad_(True)
        got = term(x, area_index, perm if tie_break == "random" else None, tie_break)  # type: ignore[arg-type]
        (grad,) = torch.autograd.grad(got.sum(), x)

        y = padded.clone().requires_grad_(True)
        size = term.size
        rows = y.reshape(n, -1, size)
        if tie_break == "random":
            rows = rows[..., perm]
        s = torch.sort(rows, dim=-1, stable=tie_break != "sort").values
        ref = torch.stack([area_reference(size, a).double() for a in areas])[area_index]
        expected = ((s - ref.unsqueeze(1)) ** 2).mean(dim=2).mean(dim=1)
        (grad_expected,) = torch.autograd.grad(expected.sum(), y)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
        assert torch.equal(grad, grad_expected)

    smooth = SmoothnessTerm(areas, t, (hp, wp), (3, 5, 5))
    perm = torch.randperm(smooth.num_values)
    x = padded.clone().requires_grad_(True)
    got = smooth(x, area_index, perm if tie_break == "random" else None, tie_break)  # type: ignore[arg-type]
    (grad,) = torch.autograd.grad(got.sum(), x)
    y = padded.clone().requires_grad_(True)
    r = smooth.responses(y)
    if tie_break == "random":
        r = r[:, perm]
    s = torch.sort(r, dim=1, descending=True, stable=tie_break != "sort").values
    k = torch.tensor(smooth.top_k)[area_index]
    top = (torch.arange(s.shape[1]).unsqueeze(0) < k.unsqueeze(1)).double()
    expected = (top * (s - 1) ** 2).sum(1) / k + ((1 - top) * s**2).sum(1) / (s.shape[1] - k)
    (grad_expected,) = torch.autograd.grad(expected.sum(), y)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_expected, rtol=1e-12, atol=1e-15)
