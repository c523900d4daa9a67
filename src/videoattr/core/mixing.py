"""Token mixing: how one attention's probabilities act on a row vector over all the model's tokens.

The attention methods carry a single row ``r`` ``(B, N)`` over the tokens of the residual stream, from
the token the classifier reads down to the tokens entering the first block, as ``r <- r^T M_l`` with
each attention's token-mixing matrix ``M_l`` (never an ``N x N`` product). ``M_l`` has two parts: the
attention ``a`` mapped onto the token sets (what each output token takes from each input token), and a
residual path ``S`` (the identity for square attention), weighted by ``residual``:

    ``M = a_full + residual * S``.

A mixing knows the native layout of its attention (``(B', Nq, Nk)`` after fusing heads, ``B'`` a
multiple of the clip batch ``B`` when the model folds frames or positions into the batch) and applies
``r^T M`` and ``M 1`` (its row sums, for the rollout's row normalisation) without forming ``M``.

- [`JointMixing`][videoattr.core.mixing.JointMixing]: joint space-time attention over all tokens
  (VideoMAE, ViViT, a plain ViT block): ``a`` is ``(B, N, N)``.
- [`PooledMixing`][videoattr.core.mixing.PooledMixing]: MViT's pooling attention ``(B, 1 + N_q,
  1 + N_kv)`` between pooled grids, with its pooled skip connection.
- [`DividedTimeMixing`][videoattr.core.mixing.DividedTimeMixing] and
  [`DividedSpaceMixing`][videoattr.core.mixing.DividedSpaceMixing]: TimeSformer's divided attention on a
  space-major stream ``[cls, (h, w, t)...]``: the temporal attention ``(B*H'W', T', T')`` mixes the
  frames of one position (the class token passes around it), the spatial one ``(B*T', 1 + H'W',
  1 + H'W')`` mixes the positions of one frame with a per-frame copy of the class token, whose
  outputs are averaged over frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DividedSpaceMixing",
    "DividedTimeMixing",
    "JointMixing",
    "PooledMixing",
    "TokenMixing",
    "TokenPool",
]


@runtime_checkable
class TokenMixing(Protocol):
    """How a heads-fused attention ``a`` ``(B', Nq, Nk)`` mixes the tokens of the residual stream."""

    def out_tokens(self, attn: Tensor, batch: int) -> int:
        """The number of tokens ``N_out`` of the stream after the attention."""
        ...

    def left(self, row: Tensor, attn: Tensor, residual: float) -> Tensor:
        """``r^T (a_full + residual * S)``: ``row`` ``(B, N_out)`` -> ``(B, N_in)``."""
        ...

    def row_sums(self, attn: Tensor, residual: float, batch: int) -> Tensor:
        """``(a_full + residual * S) 1``: ``(B, N_out)``."""
        ...


def _check_batch(attn: Tensor, batch: int, what: str) -> int:
    if attn.dim() != 3 or attn.shape[0] % batch:
        raise ValueError(
            f"{what} attention must be (B', Nq, Nk) with B' a multiple of the batch {batch}; got "
            f"{tuple(attn.shape)}"
        )
    return attn.shape[0] // batch


@dataclass(frozen=True)
class JointMixing:
    """Joint attention over every token of the stream: ``a`` is ``(B, N, N)``, ``S = I``."""

    kind: str = field(default="joint", init=False)

    def out_tokens(self, attn: Tensor, batch: int) -> int:
        """``N``."""
        return int(attn.shape[-2])

    def left(self, row: Tensor, attn: Tensor, residual: float) -> Tensor:
        """``r^T a + residual * r``."""
        if _check_batch(attn, row.shape[0], "joint") != 1 or attn.shape[-1] != row.shape[1]:
            raise ValueError(
                f"joint attention {tuple(attn.shape)} does not act on a row of {tuple(row.shape)}"
            )
        return torch.bmm(row.unsqueeze(1), attn).squeeze(1) + residual * row

    def row_sums(self, attn: Tensor, residual: float, batch: int) -> Tensor:
        """``a 1 + residual``."""
        return attn.sum(dim=-1) + residual


@dataclass(frozen=True)
class DividedTimeMixing:
    """TimeSformer's temporal attention on a space-major stream ``[prefix, (h, w, t)...]``.

    ``a`` is ``(B*H'W', T', T')`` (positions folded into the batch, in the stream's ``(h, w)`` order);
    the ``prefix_tokens`` (the class token) do not take part: their rows of ``M`` are ``residual * e``.

    Attributes:
        prefix_tokens: tokens before the patches (TimeSformer: 1).
    """

    kind: str = field(default="divided_time", init=False)

    prefix_tokens: int = 1

    def out_tokens(self, attn: Tensor, batch: int) -> int:
        """``prefix + H'W' T'``."""
        return self.prefix_tokens + int(attn.shape[0] // batch) * int(attn.shape[-1])

    def left(self, row: Tensor, attn: Tensor, residual: float) -> Tensor:
        """Mix each position's ``T'`` frames; the prefix keeps ``residual`` times its value."""
        b, p = row.shape[0], self.prefix_tokens
        hw = _check_batch(attn, b, "temporal")
        t = attn.shape[-1]
        patches = row[:, p:].reshape(b * hw, 1, t)
        mixed = torch.bmm(patches, attn).reshape(b, hw * t)
        return torch.cat([torch.zeros_like(row[:, :p]), mixed], dim=1) + residual * row

    def row_sums(self, attn: Tensor, residual: float, batch: int) -> Tensor:
        """``residual`` for the prefix, ``a 1 + residual`` for the patches."""
        hw = _check_batch(attn, batch, "temporal")
        sums = attn.sum(dim=-1).reshape(batch, hw * attn.shape[-2]) + residual
        prefix = sums.new_full((batch, self.prefix_tokens), residual)
        return torch.cat([prefix, sums], dim=1)


@dataclass(frozen=True)
class DividedSpaceMixing:
    """TimeSformer's spatial attention on a space-major stream ``[cls, (h, w, t)...]``.

    ``a`` is ``(B*T', 1 + H'W', 1 + H'W')``: frame ``t`` of clip ``b`` is batch row ``b*T' + t``, its
    token 0 a copy of the class token, token ``1 + i`` the stream's token ``1 + i*T' + t``. The class
    token's output is the mean over frames of its copies' outputs, so its row of ``a_full`` is
    ``mean_t a[t, 0, :]`` (with every copy's column on the one class token). ``S = I``.
    """

    kind: str = field(default="divided_space", init=False)

    def out_tokens(self, attn: Tensor, batch: int) -> int:
        """``1 + H'W' T'``."""
        return 1 + (int(attn.shape[-1]) - 1) * int(attn.shape[0] // batch)

    def left(self, row: Tensor, attn: Tensor, residual: float) -> Tensor:
        """Mix the positions of each frame; the class token's row is the frames' mean."""
        b = row.shape[0]
        t = _check_batch(attn, b, "spatial")
        hw = attn.shape[-1] - 1
        queries = torch.cat(
            [
                (row[:, :1] / t).expand(b, t).unsqueeze(-1),
                row[:, 1:].reshape(b, hw, t).transpose(1, 2),
            ],
            dim=2,
        )  # (B, T', 1 + H'W'): the row over each frame's queries
        mixed = torch.bmm(queries.reshape(b * t, 1, hw + 1), attn).reshape(b, t, hw + 1)
        cls = mixed[:, :, 0].sum(dim=1, keepdim=True)
        patches = mixed[:, :, 1:].transpose(1, 2).reshape(b, hw * t)
        return torch.cat([cls, patches], dim=1) + residual * row

    def row_sums(self, attn: Tensor, residual: float, batch: int) -> Tensor:
        """The class token's row sum is the frames' mean of its copies'."""
        t = _check_batch(attn, batch, "spatial")
        sums = attn.sum(dim=-1).reshape(batch, t, -1)
        cls = sums[:, :, 0].mean(dim=1, keepdim=True)
        patches = sums[:, :, 1:].transpose(1, 2).reshape(batch, -1)
        return torch.cat([cls, patches], dim=1) + residual


Triple = tuple[int, int, int]


def _pooled_size(size: Triple, kernel: Triple, stride: Triple, padding: Triple) -> Triple:
    t, h, w = (
        (n + 2 * p - k) // st + 1 for n, k, st, p in zip(size, kernel, stride, padding, strict=True)
    )
    return (t, h, w)


@dataclass(frozen=True)
class TokenPool:
    """A pooling of a ``(T', H', W')`` token grid, read as a linear map of tokens.

    Pooled token ``j`` is the mean of the input tokens inside its window (zero padding not counted),
    the way the attention methods carry a row through MViT's pooling (its convolution and max pooling
    act per channel; the window mean is the token-mixing map they share).

    Attributes:
        kernel, stride, padding: the pooling's ``(t, h, w)`` window, stride and zero padding.
    """

    kernel: Triple
    stride: Triple
    padding: Triple

    def out_size(self, size: Triple) -> Triple:
        """The pooled grid of a ``size`` grid."""
        return _pooled_size(size, self.kernel, self.stride, self.padding)

    def transpose(self, row: Tensor, size: Triple) -> Tensor:
        """``P^T``: a row ``(B, N_pooled)`` over the pooled grid -> ``(B, N)`` over the ``size`` grid."""
        out = self.out_size(size)
        ones = row.new_ones(1, 1, *self.kernel)
        counts = F.conv3d(row.new_ones(1, 1, *size), ones, stride=self.stride, padding=self.padding)
        base = [
            (o - 1) * s - 2 * p + k
            for o, s, p, k in zip(out, self.stride, self.padding, self.kernel, strict=True)
        ]
        spread = F.conv_transpose3d(
            (row.reshape(-1, 1, *out) / counts),
            ones,
            stride=self.stride,
            padding=self.padding,
            output_padding=tuple(n - b for n, b in zip(size, base, strict=True)),
        )
        return spread.reshape(row.shape[0], -1)


@dataclass(frozen=True)
class PooledMixing:
    """MViT's pooling attention: ``a`` ``(B, 1 + N_q, 1 + N_kv)`` between pooled grids.

    The block reads ``1 + N_in`` tokens on the grid ``size`` (class token first, then time-major),
    attends from queries pooled to ``N_q`` onto keys/values pooled by ``kv`` to ``N_kv``, and adds the
    input pooled by ``skip`` (the stride of the queries): ``a_full = a P_kv``, ``S = P_skip``, with the
    class token never pooled. ``kv`` or ``skip`` ``None``: no pooling (the identity).

    Attributes:
        size: the block's input grid ``(T', H', W')``.
        kv: the pooling of keys and values.
        skip: the pooling of the skip connection.
    """

    size: Triple
    kv: TokenPool | None = None
    skip: TokenPool | None = None
    kind: str = field(default="pooled", init=False)

    def out_tokens(self, attn: Tensor, batch: int) -> int:
        """``1 + N_q``."""
        return int(attn.shape[-2])

    def _spread(self, row: Tensor, pool: TokenPool | None) -> Tensor:
        if pool is None:
            return row
        return torch.cat([row[:, :1], pool.transpose(row[:, 1:], self.size)], dim=1)

    def left(self, row: Tensor, attn: Tensor, residual: float) -> Tensor:
        """``r^T a P_kv + residual * r^T P_skip``."""
        _check_batch(attn, row.shape[0], "pooled")
        mixed = torch.bmm(row.unsqueeze(1), attn).squeeze(1)
        return self._spread(mixed, self.kv) + residual * self._spread(row, self.skip)

    def row_sums(self, attn: Tensor, residual: float, batch: int) -> Tensor:
        """``a 1 + residual`` (the window means' rows sum to one)."""
        return attn.sum(dim=-1) + residual
