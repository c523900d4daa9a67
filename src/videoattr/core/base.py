"""The [`Attributor`][videoattr.core.base.Attributor] base class: one call shape for every method."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.core.state import model_session
from videoattr.core.targets import ResolvedTarget, Target, check_logits, resolve_target
from videoattr.core.validation import check_clip, check_optional_batch_size, describe


class Attributor(ABC):
    """Base class of every attribution method.

    An attributor is built with a model (mapping ``(B, C, T, H, W)`` clips to ``(B, K)`` logits) and its
    options, then called as ``attribute(x, target=None, **options)``. It returns a tensor on ``x``'s device
    without a graph: ``(B, 1, T, H, W)`` maps for gradient/activation methods, ``(B, A, T, H, W)`` masks
    for perturbation methods. Calling it leaves the model as it was (hooks, ``requires_grad`` and
    ``training`` flags), also when an exception is raised.

    Args:
        model: the video classifier.
        max_batch_size: the most samples (IG steps, noise draws, masks) in one forward; ``None`` puts all
            of them in one forward.
        eval_mode: put the model in eval mode during the call (restored after). Default ``True``.
    """

    def __init__(
        self, model: nn.Module, *, max_batch_size: int | None = None, eval_mode: bool = True
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
        self.model = model
        self.max_batch_size = check_optional_batch_size(max_batch_size)
        self.eval_mode = bool(eval_mode)

    #: ``attribute(x, target=None, **options)``: every subclass defines it with its own keyword options.
    attribute: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Same as [`attribute`][videoattr.core.base.Attributor.attribute]."""
        return self.attribute(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={type(self.model).__name__}, max_batch_size={self.max_batch_size})"

    # -- shared mechanics for subclasses ---------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[None]:
        """Context in which the model is prepared for attribution and restored afterwards."""
        with model_session(self.model, eval_mode=self.eval_mode):
            yield

    def prepare(
        self, x: Tensor, target: Target, *, name: str = "x"
    ) -> tuple[Tensor, ResolvedTarget]:
        """Validate a clip batch and the target form (indices are checked once logits are known)."""
        x = check_clip(x, name)
        return x, resolve_target(target, x.shape[0], x.device)

    def forward(self, x: Tensor) -> Tensor:
        """Run the model and check that it returns ``(N, K)`` logits."""
        return check_logits(self.model(x), x.shape[0])

    def resolve_with_clean_logits(self, x: Tensor, target: ResolvedTarget) -> ResolvedTarget:
        """Resolve ``target=None`` to each clean clip's top class with one gradient-free forward of ``x``.

        Explicit class indices and callables need no forward: indices are checked against the number of
        classes whenever they score logits.
        """
        if not target.needs_logits:
            return target
        with torch.no_grad():
            logits = self.forward(x)
        return target.with_logits(logits)


def require_grad_path(score: Tensor, name: str = "model") -> None:
    """Raise a clear error when the score cannot be differentiated with respect to the input."""
    if not score.requires_grad:
        raise RuntimeError(
            f"{name} output does not depend differentiably on the input clip (no autograd graph): the model "
            "may detach its input, use torch.no_grad(), or be non-differentiable (e.g. argmax)"
        )
