"""Shared base of the gradient-type attributors (Saliency, IntegratedGradients).

A gradient attributor computes a *raw* attribution ``(N, C, T, H, W)`` for a batch of samples and then
post-processes it (polarity, then channel reduction). [`SmoothGrad`][videoattr.methods.smoothgrad.SmoothGrad]
uses the raw step on noisy copies and the same post-processing on the aggregate.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

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
from videoattr.core.targets import ResolvedTarget, Target, fold_targets
from videoattr.core.validation import check_choice
from videoattr.methods._memory import GRADIENT_BATCH


class GradientAttributor(Attributor):
    """An attributor whose answer is built from input gradients.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        polarity: ``"signed"``, ``"positive"`` (negatives set to 0), ``"negative"`` (``-min(a, 0)``) or
            ``"absolute"``; applied before the channel reduction (the reference implementation's order).
            Default ``"signed"``, for the API and the command line alike.
        reduction: channel reduction ``"sum"`` (default), ``"mean"``, ``"max"`` or ``None`` (keep ``C``).
        max_batch_size: most samples in one forward. Default 2 (``GRADIENT_BATCH``: about 2.4 GB
            with the backward pass on r2plus1d_18 at 16 x 112 x 112); ``None``: no bound.
        eval_mode: run the model in eval mode during the call (restored after).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        polarity: Polarity = "signed",
        reduction: Reduction | None = "sum",
        max_batch_size: int | None = GRADIENT_BATCH,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        check_choice(polarity, "polarity", POLARITIES)
        check_choice(reduction, "reduction", REDUCTIONS)
        self.polarity: Polarity = polarity
        self.reduction: Reduction | None = reduction

    def attribute(self, x: Tensor, target: Target = None, **overrides: Any) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class of each clean clip), an int, one int per clip (a sequence or a
                ``(B,)`` tensor), a callable ``logits (N, K) -> (N,)``, or several targets per clip: a
                ``(B, K)`` tensor of class indices or ``"top3"`` / ``"topk:3"``.
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).

        Returns:
            ``(B, 1, T, H, W)`` maps (``(B, C, T, H, W)`` with ``reduction=None``); with several targets
            per clip ``(B, K, 1, T, H, W)``, map ``[b, k]`` equal to a single-target call for that class.
        """
        x, tgt, multi = self.prepare_multi(x, target)
        if multi is not None:
            rows, indices, k = multi
            return fold_targets(self.attribute(rows, indices), k)
        assert tgt is not None
        with self.session():
            tgt = self.resolve_target_in_session(x, tgt)
            raw = self.raw_attribution(x, tgt)
        return self.postprocess(raw).detach()

    def resolve_target_in_session(self, x: Tensor, target: ResolvedTarget) -> ResolvedTarget:
        """Resolve ``target=None`` before the samples run (default: one clean forward)."""
        return self.resolve_with_clean_logits(x, target)

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
