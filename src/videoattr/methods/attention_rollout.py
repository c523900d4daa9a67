"""Attention rollout (Abnar & Zuidema, ACL 2020) for video transformers."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from videoattr.core.attention import AttentionLayout, capture_attention
from videoattr.core.targets import ResolvedTarget
from videoattr.core.validation import check_choice
from videoattr.methods._attention_base import (
    AttentionAttributor,
    _row_dtype,
    check_taps_called,
    fuse_heads,
)
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.methods.registry import register_method

HeadFusion = Literal["mean", "max", "min"]
DiscardOver = Literal["row", "matrix"]


def discard_smallest(attn: Tensor, ratio: float, over: DiscardOver = "row") -> Tensor:
    """Zero the smallest entries of each attention matrix ``attn`` ``(B', Nq, Nk)``.

    ``over="row"`` (default): the smallest ``int(ratio * Nk)`` of each row; the diagonal of a square
    attention is never zeroed (the others are chosen among the rest). ``over="matrix"``: the
    smallest ``int(ratio * Nq * Nk)`` of the whole matrix, never entry ``(0, 0)`` (the class token's
    attention to itself in a ViT with a class token), as widely used ViT rollout code discards.
    """
    if over == "matrix":
        flat = attn.reshape(*attn.shape[:-2], -1)
        k = min(int(flat.shape[-1] * ratio), flat.shape[-1] - 1)
        if k == 0:
            return attn
        candidates = flat.clone()
        candidates[..., 0] = float("inf")  # entry (0, 0) is never a candidate
        smallest = candidates.topk(k, dim=-1, largest=False).indices
        return flat.scatter(-1, smallest, 0.0).reshape(attn.shape)
    k = int(attn.shape[-1] * ratio)
    if k == 0:
        return attn
    candidates = attn.clone()
    if attn.shape[-1] == attn.shape[-2]:  # the diagonal is never a candidate
        candidates.diagonal(dim1=-2, dim2=-1).fill_(float("inf"))
        k = min(k, attn.shape[-1] - 1)
    smallest = candidates.topk(k, dim=-1, largest=False).indices
    return attn.scatter(-1, smallest, 0.0)


class AttentionRollout(AttentionAttributor):
    """Attention rollout (Abnar & Zuidema, ACL 2020): how much each token flows into the read token.

    Per attention ``l`` the heads are fused (``Â_l``: mean, max or min over heads), optionally the
    smallest ``discard_ratio`` of its entries are zeroed, the residual connection is
    added as ``Ã_l = 0.5 Â_l + 0.5 I`` and each row is normalised to sum to one; the rollout is
    ``Ã_L ... Ã_1``, of which the row the classifier reads (the class token's, or the mean of the patch
    tokens' rows for a mean-pooling classifier) is computed from the top, ``e^T Ã_L ... Ã_1``, one
    vector-times-matrix per attention. Divided and pooled attentions enter as their token-mixing
    matrices (see [`videoattr.core.mixing`][videoattr.core.mixing]).

    **Class-agnostic**: the map is the same for every target (the target is still validated). One
    gradient-free forward per clip.

    Args:
        model: a video transformer ``(B, C, T, H, W) -> (B, K)``.
        head_fusion: ``"mean"`` (default), ``"max"`` or ``"min"`` over heads.
        discard_ratio: fraction of the smallest fused attentions set to zero, in ``[0, 1)``
            (default 0).
        discard_over: where the smallest are chosen. ``"row"`` (default): in each row, never the
            diagonal. ``"matrix"``: over the whole fused matrix, never entry ``(0, 0)`` (the class
            token's own), as widely used ViT rollout code does (there the discard is of the whole
            matrix). Divided and pooled attentions discard in each matrix the model computes.
        layout: the model's [`AttentionLayout`][videoattr.core.attention.AttentionLayout]; default its
            own ``attention_layout``.
        resize: resize to the clip's ``(T, H, W)`` (default ``True``).
        normalize: min-max normalise each clip's map to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips in one forward. Default 2 (``None``: all clips at once).
        eval_mode: run the model in eval mode during the call.

    Example:
        >>> rollout = AttentionRollout(load("videomae"), discard_ratio=0.9)
        >>> maps = rollout.attribute(clip)   # (B, 1, T, H, W)
    """

    method_name: ClassVar[str | None] = "attention_rollout"
    class_specific: ClassVar[bool] = False

    def __init__(
        self,
        model: nn.Module,
        *,
        head_fusion: HeadFusion = "mean",
        discard_ratio: float = 0.0,
        discard_over: DiscardOver = "row",
        layout: AttentionLayout | None = None,
        resize: bool = True,
        normalize: bool = False,
        max_batch_size: int | None = GRADIENT_BATCH,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(
            model,
            layout=layout,
            resize=resize,
            normalize=normalize,
            max_batch_size=max_batch_size,
            eval_mode=eval_mode,
        )
        check_choice(head_fusion, "head_fusion", ("mean", "max", "min"))
        if isinstance(discard_ratio, bool) or not 0.0 <= float(discard_ratio) < 1.0:
            raise ValueError(f"discard_ratio must be a number in [0, 1); got {discard_ratio!r}")
        check_choice(discard_over, "discard_over", ("row", "matrix"))
        self.head_fusion: HeadFusion = head_fusion
        self.discard_ratio = float(discard_ratio)
        self.discard_over: DiscardOver = discard_over

    def rows(self, x: Tensor, target: ResolvedTarget, index: Tensor) -> Tensor:
        """One gradient-free forward; the heads are fused as each attention is computed."""
        layout = self.active_layout
        dtype = _row_dtype(x.dtype)
        fused: list[Tensor] = []
        called: list[int] = []

        def keep(i: int, probs: Tensor) -> None:
            called.append(i)
            a = fuse_heads(probs.detach().to(dtype), self.head_fusion)
            fused.append(0.5 * discard_smallest(a, self.discard_ratio, self.discard_over))

        with torch.no_grad(), capture_attention(self.model, layout, keep):
            logits = self.forward(x, index)
        check_taps_called(layout, called)
        target.score(logits, index)  # validates the class indices; the map does not depend on them
        b = x.shape[0]
        last = layout.taps[-1].mixing
        row = self.read_row(last.out_tokens(fused[-1], b), b, dtype, x.device)
        for tap, a in zip(reversed(layout.taps), reversed(fused), strict=True):
            row = tap.mixing.left(row / tap.mixing.row_sums(a, 0.5, b), a, 0.5)
        return row


register_method(
    "attention_rollout",
    AttentionRollout,
    aliases=("AttentionRollout", "rollout", "attention-rollout"),
    kind="attention",
    summary="attention flow to the read token through the layers, class-agnostic (Abnar & Zuidema 2020)",
)
