"""Gradient-weighted attention relevance (Chefer, Gur & Wolf, ICCV 2021) for video transformers."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from videoattr.core.attention import capture_attention
from videoattr.core.model_checks import require_grad_path
from videoattr.core.targets import ResolvedTarget
from videoattr.methods._attention_base import AttentionAttributor, _row_dtype, check_taps_called
from videoattr.methods.registry import register_method


def weighted_attention(probs: Tensor, grad: Tensor, dtype: torch.dtype) -> Tensor:
    """``Ā = mean_heads((dA ⊙ A)^+)``: ``(B', heads, Nq, Nk)`` -> ``(B', Nq, Nk)`` in ``dtype``."""
    weighted = (grad.to(dtype) * probs.detach().to(dtype)).clamp(min=0)
    return weighted.mean(dim=1) if weighted.dim() == 4 else weighted


class AttentionRelevance(AttentionAttributor):
    """Gradient-weighted attention relevance (Chefer, Gur & Wolf, ICCV 2021, "Generic attention-model explainability").

    With ``A_l`` the attention probabilities of attention ``l`` and ``dA_l`` the gradient of the target
    score with respect to them, ``Ā_l = mean_heads((dA_l ⊙ A_l)^+)`` and the relevance is
    ``R = (I + Ā_L) ... (I + Ā_1)`` (from ``R = I``, ``R <- R + Ā_l R`` for ``l = 1..L``). The row the
    classifier reads (the class token's, or the mean of the patch tokens' rows for a mean-pooling
    classifier) is computed from the top during the backward pass: as each attention's gradient
    arrives (last attention first) its heads are fused and the row is multiplied through it, so one
    forward and one backward per clip, and no ``N x N`` matrix is kept. Divided and pooled attentions
    enter as their token-mixing matrices (see [`videoattr.core.mixing`][videoattr.core.mixing]).

    **Class-specific**: the map depends on the target through the gradients.

    Args:
        model: a video transformer ``(B, C, T, H, W) -> (B, K)``.
        layout: the model's [`AttentionLayout`][videoattr.core.attention.AttentionLayout]; default its
            own ``attention_layout``.
        resize: resize to the clip's ``(T, H, W)`` (default ``True``).
        normalize: min-max normalise each clip's map to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips in one forward. Default 2 (``None``: all clips at once).
        eval_mode: run the model in eval mode during the call.

    Example:
        >>> relevance = AttentionRelevance(load("vivit"))
        >>> maps = relevance.attribute(clip, target=3)   # (B, 1, T, H, W)
    """

    method_name: ClassVar[str | None] = "attention_relevance"

    def rows(self, x: Tensor, target: ResolvedTarget, index: Tensor) -> Tensor:
        """One forward and one backward; each attention enters the row as its gradient arrives."""
        layout = self.active_layout
        taps = layout.taps
        dtype = _row_dtype(x.dtype)
        probs: list[Tensor | None] = []
        x_in = x.detach().requires_grad_(True)  # the graph starts at the clip
        called: list[int] = []

        def keep(i: int, p: Tensor) -> None:
            called.append(i)
            probs.append(p)

        with capture_attention(self.model, layout, keep):
            logits = self.forward(x_in, index)
        check_taps_called(layout, called)
        score = target.score(logits, index)
        require_grad_path(score)
        b = x.shape[0]
        first, last = probs[0], probs[-1]
        assert first is not None and last is not None
        if not first.requires_grad:
            raise RuntimeError(
                f"the attention of {taps[0].module!r} is not in the autograd graph of the logits"
            )
        state = {"row": self.read_row(taps[-1].mixing.out_tokens(last, b), b, dtype, x.device)}
        pending = [len(taps) - 1]

        def enter(i: int, grad: Tensor) -> None:
            if pending[0] != i:
                raise RuntimeError(
                    f"the gradient of attention {taps[i].module!r} arrived before that of "
                    f"{taps[pending[0]].module!r}: the layout's taps must follow the forward order"
                )
            p = probs[i]
            assert p is not None
            a = weighted_attention(p, grad, dtype)
            state["row"] = taps[i].mixing.left(state["row"], a, 1.0)
            probs[i] = None  # nothing of this attention is kept once it is in the row
            pending[0] -= 1

        def hook(i: int) -> Callable[[Tensor], None]:
            return lambda grad: enter(i, grad)

        for i in range(1, len(probs)):
            p = probs[i]
            assert p is not None
            if p.requires_grad:
                p.register_hook(hook(i))  # type: ignore[no-untyped-call]
        (grad_first,) = torch.autograd.grad(score.sum(), first)
        if pending[0] != 0:
            raise RuntimeError(
                f"the target score does not depend on the attention of {taps[pending[0]].module!r}"
            )
        enter(0, grad_first)
        return state["row"]


register_method(
    "attention_relevance",
    AttentionRelevance,
    aliases=("AttentionRelevance", "relevance", "chefer", "transformer_attribution"),
    kind="attention",
    summary="gradient-weighted attention relevance, class-specific (Chefer, Gur & Wolf 2021)",
)
