"""Splitting a large number of samples into forward passes of bounded size, and scoring them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor


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


def scored_chunks(
    n: int,
    rows: Callable[[slice], tuple[Tensor, Tensor]],
    forward: Callable[[Tensor, Tensor], Tensor],
    score: Callable[[Tensor, Tensor], Tensor],
    max_batch_size: int | None,
) -> Iterator[tuple[slice, Tensor]]:
    """Score ``n`` derived inputs (perturbed, masked, noisy clips) in forwards of bounded size.

    The one loop behind every method and metric that scores many perturbed copies of its clips
    (occlusion, RISE, Score-CAM, the extremal methods' final probabilities, deletion and insertion,
    the pipeline's preserved clips): chunk ``range(n)``, build the chunk's inputs, run the model
    without a graph, score the logits.

    Args:
        n: number of inputs.
        rows: ``rows(chunk)`` builds inputs ``chunk.start .. chunk.stop - 1``: ``(inputs (N, C, T, H,
            W), clip_index (N,))``, the clip each input derives from.
        forward: ``forward(inputs, clip_index) -> (N, num_classes)`` logits (e.g. a checked
            [`Attributor.forward`][videoattr.core.base.Attributor.forward]).
        score: ``score(logits, clip_index)`` -> ``(N,)`` or ``(N, K)`` scores.
        max_batch_size: the most inputs in one forward; ``None``: no bound, all ``n`` in one.

    Yields:
        ``(chunk, scores)`` per forward, in order. Building the inputs and the forward run under
        ``torch.no_grad()``; the caller's code between chunks runs in its own grad mode.

    Example:
        >>> import torch
        >>> x = torch.arange(6.0).view(6, 1, 1, 1, 1)
        >>> chunks = scored_chunks(
        ...     6,
        ...     lambda s: (x[s], torch.arange(s.start, s.stop)),
        ...     lambda inputs, _i: inputs.flatten(1),
        ...     lambda logits, _i: logits[:, 0],
        ...     4,
        ... )
        >>> [(s.start, s.stop, v.tolist()) for s, v in chunks]
        [(0, 4, [0.0, 1.0, 2.0, 3.0]), (4, 6, [4.0, 5.0])]
    """
    for chunk in chunk_slices(n, max_batch_size):
        with torch.no_grad():
            inputs, clip_index = rows(chunk)
            scores = score(forward(inputs, clip_index), clip_index)
        yield chunk, scores


def score_all(
    n: int,
    rows: Callable[[slice], tuple[Tensor, Tensor]],
    forward: Callable[[Tensor, Tensor], Tensor],
    score: Callable[[Tensor, Tensor], Tensor],
    max_batch_size: int | None,
) -> Tensor:
    """The scores of all ``n`` inputs of [`scored_chunks`][videoattr.core.batching.scored_chunks], concatenated: ``(n,)`` or ``(n, K)``."""
    return torch.cat([s for _, s in scored_chunks(n, rows, forward, score, max_batch_size)])
