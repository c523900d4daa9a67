"""Gradients of target scores with respect to inputs, in forwards of bounded size."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from videoattr.core.batching import chunk_slices
from videoattr.core.model_checks import check_logits, require_grad_path
from videoattr.core.targets import ResolvedTarget

SampleFn = Callable[[slice], tuple[Tensor, Tensor]]
AccumulateFn = Callable[[slice, Tensor, Tensor, Tensor], None]


def batched_input_gradients(
    model: nn.Module,
    n_samples: int,
    make_samples: SampleFn,
    target: ResolvedTarget,
    max_batch_size: int | None,
    accumulate: AccumulateFn,
) -> None:
    """Evaluate input gradients of ``n_samples`` derived inputs in chunks of at most ``max_batch_size``.

    Only the chunk being evaluated lives in memory; the caller folds each chunk's gradients into its
    own accumulator, so memory does not grow with ``n_samples``.

    Args:
        model: the classifier.
        n_samples: total number of samples ``N`` (``B`` for saliency, ``steps * B`` for IG, ...).
        make_samples: maps a slice of ``range(N)`` to ``(inputs, clip_index)`` for that chunk, where
            ``clip_index`` (long, on the inputs' device) says which clip each sample belongs to.
        target: the target (class indices, a callable, or per-row top class).
        max_batch_size: the chunk size bound; ``None`` evaluates everything in one forward.
        accumulate: called as ``accumulate(chunk, grads, scores, clip_index)`` for each chunk, with
            detached tensors; ``grads`` is shaped like the chunk's inputs, ``scores`` is ``(n,)``.

    Raises:
        RuntimeError: the score has no autograd path to the input (non-differentiable model).
    """
    for chunk in chunk_slices(n_samples, max_batch_size):
        inputs, clip_index = make_samples(chunk)
        xg = inputs.detach().requires_grad_(True)
        logits = check_logits(model(xg), xg.shape[0], clip_index=clip_index)
        score = target.score(logits, clip_index)
        require_grad_path(score)
        (grad,) = torch.autograd.grad(score.sum(), xg)
        accumulate(chunk, grad, score.detach(), clip_index)
