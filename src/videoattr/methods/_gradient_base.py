"""Shared base of the gradient-type attributors (Saliency, IntegratedGradients).

A gradient attributor computes a *raw* attribution ``(N, C, T, H, W)`` for a batch of samples and then
post-processes it (polarity, then channel reduction). [`SmoothGrad`][videoattr.methods.smoothgrad.SmoothGrad]
uses the raw step on noisy copies and the same post-processing on the aggregate.
"""

from __future__ import annotations

from abc import abstractmethod

from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.ops import (
    POLARITIES,
    REDUCTIONS,
    Polarity,
    Reduction,
    apply_polarity,
    reduce_channels,
)
from videoattr.core.targets import ResolvedTarget
from videoattr.core.validation import check_choice


class GradientAttributor(Attributor):
    """An attributor whose answer is built from input gradients.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        polarity: ``"signed"``, ``"positive"`` (negatives set to 0), ``"negative"`` (``-min(a, 0)``) or
            ``"absolute"``; applied before the channel reduction (the seed's order).
        reduction: channel reduction ``"sum"`` (default), ``"mean"``, ``"max"`` or ``None`` (keep ``C``).
        max_batch_size: most samples in one forward (``None``: no bound).
        eval_mode: run the model in eval mode during the call (restored after).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        polarity: Polarity = "signed",
        reduction: Reduction | None = "sum",
        max_batch_size: int | None = None,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        check_choice(polarity, "polarity", POLARITIES)
        check_choice(reduction, "reduction", REDUCTIONS)
        self.polarity: Polarity = polarity
        self.reduction: Reduction | None = reduction

    def postprocess(self, raw: Tensor) -> Tensor:
        """Apply polarity then channel reduction to a raw ``(N, C, T, H, W)`` attribution."""
        return reduce_channels(apply_polarity(raw, self.polarity), self.reduction)

    @abstractmethod
    def raw_attribution(
        self, x: Tensor, target: ResolvedTarget, clip_index: Tensor | None = None
    ) -> Tensor:
        """Raw attribution ``(N, C, T, H, W)`` of ``N`` samples, before polarity and reduction.

        Args:
            x: ``(N, C, T, H, W)`` samples (clips, or noisy copies of them).
            target: a target resolved to class indices or a callable.
            clip_index: ``(N,)`` clip of each sample (``None``: sample ``i`` is clip ``i``).
        """
