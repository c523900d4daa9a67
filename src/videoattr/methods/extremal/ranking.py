"""Which values of a row a sort would put in its top part, found without sorting the row.

The area term compares the sorted mask values with a reference of zeros followed by ones, and the
smoothness term treats the ``k`` largest ellipsoid responses apart from the rest. Both only need to know
*which* entries a sort would place in the top part: with that indicator ``r``, the term is the same sum of
per-entry squares taken in another order, and its gradient is entry for entry the one of the sorted form
(``2 (v_i - r_i) / N`` for the area term). A selection finds the indicator in linear time: the ``count``-th
largest value is the threshold, everything above it is in, everything below is out. Only when the values
equal to the threshold straddle it (a plateau of equal values, e.g. masks clamped to exactly 0 or 1, or
the all-ones initial masks) does the order of equal values decide, and then each tie-break is reproduced
exactly:

* ``"sort"``: PyTorch's default sort, as the reference implementation calls it; its order of equal
  values is an implementation detail of the device's sort, so the rows whose ties straddle the threshold
  are sorted (and only those);
* ``"stable"``: equal values in order of position;
* ``"random"``: equal values in the order of a given permutation (a stable sort of the permuted values).

The result is the indicator the sort-based form would use, for every tie-break and every row.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

TieBreak = Literal["sort", "stable", "random"]
TIE_BREAKS: tuple[str, ...] = ("sort", "stable", "random")

__all__ = ["TIE_BREAKS", "TieBreak", "count_threshold", "top_indicator"]


def count_threshold(values: Tensor, count: Tensor) -> Tensor:
    """The ``count[i]``-th largest value of every row ``i`` of ``(n, N)`` values (``+inf`` for a count of 0).

    Rows are grouped by their count (a call has as many counts as areas), one ``kthvalue`` per group.
    """
    n, size = values.shape
    out = torch.full((n,), float("inf"), dtype=values.dtype, device=values.device)
    for c in torch.unique(count).tolist():
        if c <= 0:
            continue
        rows = (count == c).nonzero().squeeze(1)
        picked = values if rows.numel() == n else values.index_select(0, rows)
        kth = torch.kthvalue(picked, size - int(c) + 1, dim=1).values
        if rows.numel() == n:
            out = kth
        else:
            out.index_copy_(0, rows, kth)
    return out


def top_indicator(
    values: Tensor,
    count: Tensor,
    *,
    descending: bool,
    tie_break: TieBreak = "sort",
    permutation: Tensor | None = None,
) -> Tensor:
    """The entries of each row that a sort would place among its ``count`` largest.

    Args:
        values: ``(n, N)`` values (no gradient is taken through the indicator).
        count: ``(n,)`` integer, the size of each row's top part, in ``[0, N]``.
        descending: the sort being reproduced: ascending (``False``: the top part is the *last*
            ``count`` entries; among equal values the later ones in the tie order are in it) or
            descending (``True``: the *first* ``count`` entries; the earlier ones in the tie order).
        tie_break: ``"sort"``, ``"stable"`` or ``"random"`` (see the module docstring).
        permutation: ``(N,)`` the order of equal values for ``"random"`` (the values are considered in
            the order ``values[:, permutation]``); required then, ignored otherwise.

    Returns:
        ``(n, N)`` bool, ``count[i]`` entries set in row ``i``.
    """
    if tie_break == "random" and permutation is None:
        raise ValueError("tie_break='random' needs a permutation of the row's entries")
    with torch.no_grad():
        values = values.detach()
        count = count.to(device=values.device, dtype=torch.long)
        threshold = count_threshold(values, count).unsqueeze(1)
        above = values > threshold
        equal = values == threshold
        need = count - above.sum(1)
        split = (need > 0) & (need < equal.sum(1))
        top = above | equal
        if not bool(split.any()):
            return top
        rows = split.nonzero().squeeze(1)
        top[rows] = _split_rows(
            values[rows],
            equal[rows],
            above[rows],
            need[rows],
            count[rows],
            descending,
            tie_break,
            permutation,
        )
        return top


def _split_rows(
    values: Tensor,
    equal: Tensor,
    above: Tensor,
    need: Tensor,
    count: Tensor,
    descending: bool,
    tie_break: TieBreak,
    permutation: Tensor | None,
) -> Tensor:
    """The top part of rows whose values equal to the threshold straddle it."""
    size = values.shape[1]
    if tie_break == "sort":
        order = torch.sort(values, dim=1, descending=descending).indices
        rank = torch.empty_like(order).scatter_(
            1, order, torch.arange(size, device=values.device).expand_as(order)
        )
        first = count.unsqueeze(1) if descending else size - count.unsqueeze(1)
        return rank < first if descending else rank >= first
    if tie_break == "random":
        assert permutation is not None
        perm = permutation.to(values.device)
        chosen = _choose_ties(equal[:, perm], need, descending)
        picked = torch.empty_like(chosen)
        picked[:, perm] = chosen
        return above | picked
    return above | _choose_ties(equal, need, descending)


def _choose_ties(equal: Tensor, need: Tensor, descending: bool) -> Tensor:
    """``need[i]`` of row ``i``'s equal entries: the earliest (descending) or the latest (ascending)."""
    rank = equal.cumsum(1) if descending else equal.flip(1).cumsum(1).flip(1)
    return equal & (rank <= need.unsqueeze(1))
