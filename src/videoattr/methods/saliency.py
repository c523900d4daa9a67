"""Gradient saliency and gradient x input."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from videoattr.core.gradients import batched_input_gradients
from videoattr.core.ops import Polarity, Reduction
from videoattr.core.targets import ResolvedTarget
from videoattr.methods._gradient_base import GradientAttributor
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.methods.registry import register_method


class Saliency(GradientAttributor):
    """Gradient of the target score with respect to the clip (Simonyan et al. 2014), or gradient x input.

    ``attribute(x, target)`` returns ``(B, 1, T, H, W)`` (``(B, C, T, H, W)`` with ``reduction=None``);
    with several targets per clip (a ``(B, K)`` tensor, ``"top3"``) ``(B, K, 1, T, H, W)``. Registered as
    ``"saliency"`` and, with ``multiply_by_inputs=True``, as ``"input_x_gradient"``.

    Polarity: the default ``"signed"`` keeps the gradient's sign; it is the default of every gradient
    method in the API and on the command line. The reference implementation (Li et al., WACV 2021) shows
    ``"positive"`` maps: pass ``polarity="positive"`` (``--polarity positive``) to reproduce them.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        multiply_by_inputs: multiply the gradient by the input (gradient x input). Default ``False``.
        polarity: ``"signed"`` (default, API and command line), ``"positive"``, ``"negative"`` or
            ``"absolute"``, applied per channel before the reduction.
        reduction: ``"sum"`` (default), ``"mean"``, ``"max"`` over channels, or ``None``.
        max_batch_size: most clips in one forward. Default 2 (about 2.4 GB with the backward pass
            on r2plus1d_18 at 16 x 112 x 112); ``None``: the whole batch at once.
        eval_mode: run the model in eval mode during the call. Default ``True``.

    Example:
        >>> sal = Saliency(model, polarity="positive")
        >>> maps = sal.attribute(clip, target=3)   # (B, 1, T, H, W)
    """

    method_name: ClassVar[str | None] = "saliency"

    def __init__(
        self,
        model: nn.Module,
        *,
        multiply_by_inputs: bool = False,
        polarity: Polarity = "signed",
        reduction: Reduction | None = "sum",
        max_batch_size: int | None = GRADIENT_BATCH,
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

    @property
    def method(self) -> str:
        """``"input_x_gradient"`` with ``multiply_by_inputs=True``, else ``"saliency"`` (or a subclass's name)."""
        if self.multiply_by_inputs and type(self).method_name == "saliency":
            return "input_x_gradient"
        return super().method

    def resolve_target_in_session(self, x: Tensor, target: ResolvedTarget) -> ResolvedTarget:
        """``target=None`` needs no extra forward: the rows are the clean clips, scored at their top class."""
        return target

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


register_method(
    "saliency",
    Saliency,
    aliases=("Saliency", "grad", "gradient", "vanilla_gradient"),
    kind="gradient",
    summary="gradient of the target score with respect to the clip (Simonyan et al. 2014)",
)
register_method(
    "input_x_gradient",
    Saliency,
    aliases=("grad*input", "gradient*input", "input-x-gradient", "InputXGradient", "grad_x_input"),
    kind="gradient",
    summary="gradient x input",
    fixed={"multiply_by_inputs": True},
)
