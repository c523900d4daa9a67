"""Gradient saliency and gradient x input."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoattr.core.gradients import batched_input_gradients
from videoattr.core.ops import Polarity, Reduction
from videoattr.core.targets import ResolvedTarget, Target
from videoattr.methods._gradient_base import GradientAttributor


class Saliency(GradientAttributor):
    """Gradient of the target score with respect to the clip (Simonyan et al. 2014), or gradient x input.

    ``attribute(x, target)`` returns ``(B, 1, T, H, W)`` (``(B, C, T, H, W)`` with ``reduction=None``).

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        multiply_by_inputs: multiply the gradient by the input (gradient x input). Default ``False``.
        polarity: ``"signed"`` (default), ``"positive"``, ``"negative"`` or ``"absolute"``, applied per
            channel before the reduction.
        reduction: ``"sum"`` (default), ``"mean"``, ``"max"`` over channels, or ``None``.
        max_batch_size: most clips in one forward (``None``: the whole batch at once).
        eval_mode: run the model in eval mode during the call. Default ``True``.

    Example:
        >>> sal = Saliency(model, polarity="positive")
        >>> maps = sal.attribute(clip, target=3)   # (B, 1, T, H, W)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        multiply_by_inputs: bool = False,
        polarity: Polarity = "signed",
        reduction: Reduction | None = "sum",
        max_batch_size: int | None = None,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(
            model,
            polarity=polarity,
            reduction=reduction,
            max_batch_size=max_batch_size,
            eval_mode=eval_mode,
        )
        self.multiply_by_inputs = bool(multiply_by_inputs)

    def attribute(self, x: Tensor, target: Target = None) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class), an int, one int per clip, or a callable ``logits -> (B,)``.
        """
        x, tgt = self.prepare(x, target)
        with self.session():
            raw = self.raw_attribution(x, tgt)
        return self.postprocess(raw).detach()

    def raw_attribution(
        self, x: Tensor, target: ResolvedTarget, clip_index: Tensor | None = None
    ) -> Tensor:
        out = torch.empty_like(x)
        index = torch.arange(x.shape[0], device=x.device) if clip_index is None else clip_index

        def samples(chunk: slice) -> tuple[Tensor, Tensor]:
            return x[chunk], index[chunk]

        def store(chunk: slice, grad: Tensor, _score: Tensor, _index: Tensor) -> None:
            out[chunk] = grad * x[chunk] if self.multiply_by_inputs else grad

        batched_input_gradients(self.model, x.shape[0], samples, target, self.max_batch_size, store)
        return out
