"""Bootstrap over clips: how much would a score move with another draw of the same number of clips?

[`bootstrap`][videoattr.metrics.stats.bootstrap] evaluates any statistic on resamples (with replacement) of
the clip indices. The standard deviation of the replicates is the statistic's standard error; a statistic
that returns one value per method gives, from the same resamples, the paired differences between methods
(which are much less noisy than two separate standard errors suggest, since every method sees the same
clips).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from videoattr.core.validation import check_positive_int, describe

__all__ = ["bootstrap"]


def bootstrap(
    statistic: Callable[[Tensor], Tensor | float],
    n: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> Tensor:
    """Bootstrap replicates of ``statistic`` over ``n`` clips.

    Args:
        statistic: maps a ``(n,)`` long tensor of clip indices (a resample of ``range(n)``) to a float or
            a tensor of any fixed shape ``S`` (e.g. one value per method).
        n: number of clips.
        resamples: number of resamples ``R``. Default 1000.
        seed: seed of the resampling (a private generator; the global random state is untouched).
            Default 0.

    Returns:
        ``(R, *S)`` float64 replicates; ``replicates.std(0)`` is the bootstrap standard error.

    Example:
        >>> values = torch.tensor([0.9, 1.0, 0.8, 1.0])
        >>> reps = bootstrap(lambda idx: values[idx].mean(), len(values), resamples=200)
        >>> reps.shape
        torch.Size([200])
    """
    if not callable(statistic):
        raise TypeError(
            f"statistic must be a callable (indices) -> value; got {describe(statistic)}"
        )
    n = check_positive_int(n, "n")
    resamples = check_positive_int(resamples, "resamples")
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(resamples):
        idx = torch.randint(0, n, (n,), generator=g)
        value = statistic(idx)
        out.append(torch.as_tensor(value, dtype=torch.float64).detach().cpu())
    return torch.stack(out)
