"""What the attention methods share: the model's layout, the row that is read, tokens to the clip.

Both methods carry one row ``r`` ``(B, N)`` over the tokens of the residual stream, starting at the
row the classifier reads (``e`` at the class token, or the mean of the patch tokens' rows for a
mean-pooling classifier) and multiplied from the top through each attention's token-mixing matrix
(``r <- r^T M_L``, then ``M_{L-1}``, ...). Memory stays at one row per clip plus what the model's own
forward keeps; no ``N x N`` product is formed. The row that reaches the tokens entering the first
block, without its prefix (class) tokens, is arranged on the ``(T', H', W')`` grid of the layout's
tokens and resized to the clip like the CAM methods' maps.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from videoattr.core.attention import AttentionLayout, model_attention_layout
from videoattr.core.base import Attributor
from videoattr.core.batching import chunk_slices
from videoattr.core.ops import normalize_per_clip, resize_to_clip
from videoattr.core.targets import ResolvedTarget, Target, fold_targets
from videoattr.core.validation import describe
from videoattr.methods._memory import GRADIENT_BATCH

__all__ = ["AttentionAttributor", "check_taps_called"]


def _row_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


class AttentionAttributor(Attributor):
    """Base of the methods that read a transformer's attention (subclass it and define `rows`).

    Args:
        model: a video transformer ``(B, C, T, H, W) -> (B, K)``.
        layout: where the model computes its attention and how its tokens lie on the clip (an
            [`AttentionLayout`][videoattr.core.attention.AttentionLayout]). Default ``None``: the
            model's own ``attention_layout`` (zoo adapters of VideoMAE, ViViT, TimeSformer and MViT
            declare one).
        resize: resize to the clip's ``(T, H, W)`` (default ``True``; ``False`` returns the token grid
            ``(B, 1, T', H', W')``).
        normalize: min-max normalise each clip's map to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips in one forward. Default 2 (``GRADIENT_BATCH``: a forward keeps
            every layer's attention, and relevance its gradients, as a forward + backward does;
            ``None``: all clips at once).
        eval_mode: run the model in eval mode during the call (default ``True``).

    Raises:
        ValueError: the model declares no layout and none is given, or the method is not defined for
            the architecture (the message says what to use instead).
    """

    #: Whether the map depends on the target class.
    class_specific: ClassVar[bool] = True

    def __init__(
        self,
        model: nn.Module,
        *,
        layout: AttentionLayout | None = None,
        resize: bool = True,
        normalize: bool = False,
        max_batch_size: int | None = GRADIENT_BATCH,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        if layout is not None and not isinstance(layout, AttentionLayout):
            raise TypeError(f"layout must be an AttentionLayout or None; got {describe(layout)}")
        self.layout = layout
        found = layout if layout is not None else model_attention_layout(model)
        if found is None:
            raise ValueError(
                f"{type(self).__name__} needs to know where {type(model).__name__} computes its "
                "attention: pass layout=AttentionLayout(...) or a zoo adapter (VideoMAE, ViViT, "
                "TimeSformer, MViT), or give the model an attention_layout attribute"
            )
        if found.unsupported is not None:
            raise ValueError(f"{self.method} is not defined for {found.name}: {found.unsupported}")
        self.resize, self.normalize = bool(resize), bool(normalize)

    @property
    def active_layout(self) -> AttentionLayout:
        """The layout in use: the one given, else the model's own."""
        found = self.layout if self.layout is not None else model_attention_layout(self.model)
        assert found is not None
        return found

    def options(self) -> dict[str, Any]:
        """The options, with the layout in use recorded (also when read from the model)."""
        return {**super().options(), "layout": self.active_layout}

    def init_options(self) -> dict[str, Any]:
        """The options as given to the constructor."""
        return {**super().options(), "layout": self.layout}

    @abstractmethod
    def rows(self, x: Tensor, target: ResolvedTarget, index: Tensor) -> Tensor:
        """The row ``(N, N_in)`` over the tokens entering the first attention, for clips ``x``."""

    def attribute(self, x: Tensor, target: Target = None, **overrides: Any) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class), an int, one int per clip, a callable ``logits -> (N,)``, or
                several targets per clip (a ``(B, K)`` tensor, ``"top3"``: ``(B, K, 1, T, H, W)``).
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).
        """
        x, tgt, multi = self.prepare_multi(x, target)
        if multi is not None:
            rows, indices, k = multi
            return fold_targets(self.attribute(rows, indices), k)
        assert tgt is not None
        size = (x.shape[2], x.shape[3], x.shape[4])
        layout = self.active_layout
        assert layout.tokens is not None
        maps = []
        with self.session():
            for chunk in chunk_slices(x.shape[0], self.max_batch_size):
                index = torch.arange(chunk.start, chunk.stop, device=x.device)
                row = self.rows(x[chunk], tgt, index)
                volume = layout.tokens.to_volume(row.unsqueeze(-1), size)
                maps.append(resize_to_clip(volume, size) if self.resize else volume)
        out = torch.cat(maps)
        if self.normalize:
            out = normalize_per_clip(out)
        return out.detach().to(x.dtype)

    def read_row(
        self, n_tokens: int, batch: int, dtype: torch.dtype, device: torch.device
    ) -> Tensor:
        """The row the classifier reads, ``(batch, n_tokens)``: one-hot, or uniform over the patches."""
        layout = self.active_layout
        assert layout.tokens is not None
        row = torch.zeros(batch, n_tokens, dtype=_row_dtype(dtype), device=device)
        if layout.read == "mean":
            prefix = layout.tokens.prefix_tokens
            row[:, prefix:] = 1.0 / (n_tokens - prefix)
        else:
            if not -n_tokens <= layout.read < n_tokens:
                raise ValueError(
                    f"layout.read = {layout.read} is not a token of the {n_tokens}-token stream"
                )
            row[:, layout.read] = 1.0
        return row


def check_taps_called(layout: AttentionLayout, called: list[int]) -> None:
    """Raise unless the forward computed the layout's taps once each, in the layout's order.

    Args:
        layout: the layout in use.
        called: the tap indices in the order the forward computed them.

    Raises:
        RuntimeError: a tap was not called, called twice, or out of order (the message names them).
    """
    if called != list(range(len(layout.taps))):
        names = [layout.taps[i].module for i in called]
        raise RuntimeError(
            f"the forward computed the attentions {names}, but the layout's taps are "
            f"{[t.module for t in layout.taps]}: taps must be the attentions the forward computes, "
            "once each, in forward order"
        )


def fuse_heads(attn: Tensor, fusion: str = "mean") -> Tensor:
    """``(B', heads, Nq, Nk)`` -> ``(B', Nq, Nk)`` by mean, max or min over heads (3-D: unchanged)."""
    if attn.dim() == 3:
        return attn
    if attn.dim() != 4:
        raise ValueError(
            f"attention probabilities must be (B', heads, Nq, Nk) or (B', Nq, Nk); got {tuple(attn.shape)}"
        )
    if fusion == "mean":
        return attn.mean(dim=1)
    return attn.amax(dim=1) if fusion == "max" else attn.amin(dim=1)
