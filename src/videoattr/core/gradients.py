"""Gradients of target scores with respect to inputs, in bounded batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from videoattr.core.base import require_grad_path
from videoattr.core.batching import chunk_slices
from videoattr.core.targets import ResolvedTarget, check_logits

SampleFn = Callable[[slice], tuple[Tensor, Tensor]]


def input_gradient(model: nn.Module, x: Tensor, target: ResolvedTarget) -> tuple[Tensor, Tensor, ResolvedTarget]:
    """Gradient of the target score w.r.t. ``x`` in one forward/backward.

    Returns:
        ``(grad, logits, target)``: the gradient shaped like ``x``, the detached ``(B, K)`` logits, and the
        target resolved against those logits (``None`` becomes the top class of ``x``).
    """
    xg = x.detach().requires_grad_(True)
    logits = check_logits(model(xg), x.shape[0])
    target = target.with_logits(logits.detach())
    score = target.score(logits)
    require_grad_path(score)
    (grad,) = torch.autograd.grad(score.sum(), xg)
    return grad, logits.detach(), target


def batched_input_gradients(
    model: nn.Module,
    n_samples: int,
    make_samples: SampleFn,
    target: ResolvedTarget,
    max_batch_size: int | None,
    accumulate: Callable[[slice, Tensor, Tensor, Tensor], None],
) -> None:
    """Evaluate gradients for ``n_samples`` derived inputs in chunks of at most ``max_batch_size``.

    Args:
        model: the classifier.
        n_samples: total number of samples ``N`` (e.g. ``steps * B`` for IG).
        make_samples: maps a slice of ``range(N)`` to ``(inputs, clip_index)`` for that chunk, where
            ``clip_index`` says which clip each sample belongs to.
        target: resolved target (class indices or callable).
        max_batch_size: the chunk size bound; ``None`` evaluates everything in one forward.
        accumulate: called as ``accumulate(chunk, grads, scores, clip_index)`` for each chunk, with
            detached tensors.
    """
    for chunk in chunk_slices(n_samples, max_batch_size):
        inputs, clip_index = make_samples(chunk)
        xg = inputs.detach().requires_grad_(True)
        logits = check_logits(model(xg), xg.shape[0])
        score = target.score(logits, clip_index)
        require_grad_path(score)
        (grad,) = torch.autograd.grad(score.sum(), xg)
        accumulate(chunk, grad, score.detach(), clip_index)
