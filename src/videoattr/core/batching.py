"""Splitting a large number of samples into forward passes of bounded size."""

from __future__ import annotations

from collections.abc import Iterator


def chunk_slices(n: int, max_batch_size: int | None) -> Iterator[slice]:
    """Yield consecutive slices covering ``range(n)``, each at most ``max_batch_size`` long.

    ``max_batch_size=None`` yields a single slice with all ``n`` samples.

    Example:
        >>> [(s.start, s.stop) for s in chunk_slices(5, 2)]
        [(0, 2), (2, 4), (4, 5)]
    """
    step = n if max_batch_size is None else max(1, max_batch_size)
    for start in range(0, n, max(step, 1)):
        yield slice(start, min(start + step, n))
