"""The mask generator's soft-max pooling as one autograd function with a hand-written backward.

On the padded canvas, pixel ``(u, v) = (s I + a, s J + b)`` (``s`` the grid stride, ``0 <= a, b < s``)
pools the ``(2R + 1)^2`` parameters ``p[I + ky, J + kx]`` of its neighbourhood, each multiplied by the
bump weight ``w_k(a, b)`` of neighbour ``k = (ky, kx)``:

    v_k = p_k w_k,   out = sum_k v_k e_k / sum_k e_k,   e_k = exp(c v_k)   (c the coldness).

The parameter a pixel sees for neighbour ``k`` depends only on its cell ``(I, J)``, so the neighbourhood
is a strided view of the zero-padded grid (no unfold, no upsampling copy), and ``v`` is one broadcast
product of that view with the weights, laid out ``(K, s, s, N, Mh, Mw)`` so that every element-wise
pass runs over long contiguous rows. The backward pass uses the saved ``e``:

    d out / d v_k = (e_k / Z) (1 + c (v_k - out)),   d L / d p_k(I, J) = sum_(a, b) g w_k d out / d v_k,

and adds the neighbourhood gradients back onto the grid with one ``fold``. It computes the values of the
unfold + nearest upsampling + soft-max composition up to float rounding (identical in float64 to 1e-13),
without materialising the upsampled neighbourhood nor scattering through it backwards.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import videoattr.core.native as native

#: Largest ``coldness * max|v|`` for which ``exp`` is taken without subtracting the per-pixel maximum
#: (``exp(80)`` and ``exp(-80)`` are well inside float32's range).
_SAFE_EXPONENT = 80.0


def neighbourhoods(params: Tensor, padding: int, size: int, mid: tuple[int, int]) -> Tensor:
    """``(size * size, N, Mh, Mw)`` neighbourhoods of ``(N, h, w)`` grids zero-padded by ``padding``.

    Entry ``[ky * size + kx, n, I, J]`` is ``padded[n, I + ky, J + kx]`` (``F.unfold``'s order of
    neighbours), contiguous.
    """
    padded = F.pad(params, (padding, padding, padding, padding))
    n = padded.shape[0]
    s_n, s_h, s_w = padded.stride()
    view = padded.as_strided((size, size, n, mid[0], mid[1]), (s_h, s_w, s_n, s_h, s_w))
    return view.reshape(size * size, n, mid[0], mid[1])


def _pairwise_sum(values: Tensor, dim: int = 0) -> Tensor:
    """Sum over ``dim`` by halving: ``v[:h] + v[h:2h]`` (plus the odd last term) until one is left.

    A fixed tree of element-wise additions, a few large operations instead of one per term: each output
    element is added up in the same order whatever the other dimensions' sizes (a reduction kernel's
    order can depend on them), so a row's mask is the same however many rows share a chunk (bit for bit
    in float64).
    """
    v = values.movedim(dim, 0) if dim else values
    if v.shape[0] == 1:
        return v[0].clone()
    while v.shape[0] > 1:
        half = v.shape[0] // 2
        head = v[:half] + v[half : 2 * half]
        if v.shape[0] % 2:
            head[0] += v[2 * half]
        v = head
    return v[0]


def cell_layout(weight: Tensor) -> Tensor:
    """Weights ``(K, Mh or 1, s, Mw or 1, s)`` rearranged to ``(K, s, s, 1, Mh or 1, Mw or 1)``."""
    k, mh, s, mw, _ = weight.shape
    return weight.permute(0, 2, 4, 1, 3).reshape(k, s, s, 1, mh, mw).contiguous()


class SoftmaxPool(torch.autograd.Function):
    """Padded canvases ``(N, Mh s, Mw s)`` from parameter grids ``(N, h, w)``; see the module docstring.

    ``weight`` is ``(K, s, s, 1, Mh or 1, Mw or 1)`` ([`cell_layout`][videoattr.methods.extremal.pooling.cell_layout]): the bump weight of neighbour
    ``k`` at sub-pixel ``(a, b)`` of cell ``(I, J)``, with size-1 cell axes when the weights repeat from
    cell to cell.
    """

    @staticmethod
    def forward(
        ctx: Any,
        params: Tensor,
        weight: Tensor,
        padding: int,
        size: int,
        mid: tuple[int, int],
        coldness: float,
    ) -> Tensor:
        nb = neighbourhoods(params, padding, size, mid)
        k, n, mh, mw = nb.shape
        s = weight.shape[1]
        w = weight.to(nb.dtype)
        cw = w * coldness
        cv = nb.view(k, 1, 1, n, mh, mw) * cw  # c v, (K, s, s, N, Mh, Mw)
        bound = float(nb.abs().amax()) * float(cw.abs().amax()) if nb.numel() else 0.0
        if (
            bound > _SAFE_EXPONENT
        ):  # large coldness: subtract the per-pixel maximum, as soft-max does
            e = torch.sub(cv, cv.amax(dim=0, keepdim=True)).exp_()
        else:
            e = torch.exp(cv)
        total = _pairwise_sum(e)
        ve = cv.mul_(e)  # c v e
        out = _pairwise_sum(ve).div_(total).div_(coldness)  # (s, s, N, Mh, Mw)
        ctx.save_for_backward(nb, w, e, ve, total, out)
        ctx.coldness = coldness
        ctx.padding = padding
        ctx.grid = tuple(params.shape[-2:])
        return out.permute(2, 3, 0, 4, 1).reshape(n, mh * s, mw * s)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        nb, w, e, ve, total, out = ctx.saved_tensors
        c = float(ctx.coldness)
        k, n, mh, mw = nb.shape
        s = w.shape[1]
        # q = g / Z laid out (s, s, N, Mh, Mw) like `out`; then
        # (d L / d v_k) / w_k... = e_k (q (1 - c out)) + (c v_k e_k) q, contracted with w_k over (a, b).
        q = grad.reshape(n, mh, s, mw, s).permute(2, 4, 0, 1, 3).div(total)
        shift = torch.mul(out, -c).add_(1).mul_(q)
        t = torch.mul(e, shift).addcmul_(ve, q)  # (K, s, s, N, Mh, Mw)
        grad_nb = _pairwise_sum(t.mul_(w).view(k, s * s, n, mh, mw), dim=1)
        h, wd = ctx.grid
        p = ctx.padding
        size = round(k**0.5)
        folded = F.fold(
            grad_nb.permute(1, 0, 2, 3).reshape(n, k, mh * mw),
            output_size=(h + 2 * p, wd + 2 * p),
            kernel_size=(size, size),
        )
        return folded[:, 0, p : p + h, p : p + wd], None, None, None, None, None


def native_tables(weight: Tensor, coldness: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``(coldness * w, w)`` as ``(K, s^2 rounded up to 8)`` tables for the native kernel.

    ``weight`` is [`cell_layout`][videoattr.methods.extremal.pooling.cell_layout]'s ``(K, s, s, 1, 1, 1)`` (weights that repeat from cell to cell).
    """
    k, s = weight.shape[0], weight.shape[1]
    width = -(-s * s // 8) * 8
    table = weight.new_zeros(k, width, dtype=dtype)
    table[:, : s * s] = weight.reshape(k, s * s).to(dtype)
    return (table * coldness).contiguous(), table


class NativeSoftmaxPool(torch.autograd.Function):
    """[`SoftmaxPool`][videoattr.methods.extremal.pooling.SoftmaxPool]'s values and gradient from the native kernel ([`native`][videoattr.core.native]).

    Same call and result as ``SoftmaxPool`` (CPU, float32 or float64, weights that repeat from cell to
    cell), computed pixel by pixel without any ``(K, s, s, N, Mh, Mw)`` tensor; it agrees with it up to
    float rounding (float64: to about 1e-15).
    """

    @staticmethod
    def forward(
        ctx: Any,
        params: Tensor,
        weight: Tensor,
        padding: int,
        size: int,
        mid: tuple[int, int],
        coldness: float,
    ) -> Tensor:
        padded = F.pad(params, (padding, padding, padding, padding)).contiguous()
        geometry = native.Geometry(
            hp=padded.shape[1],
            wp=padded.shape[2],
            mh=mid[0],
            mw=mid[1],
            size=size,
            step=weight.shape[1],
        )
        cold, plain = native_tables(weight, coldness, padded.dtype)
        canvas, total, shift = native.pool_forward(padded, cold, geometry, coldness)
        ctx.save_for_backward(padded, cold, plain, canvas, total, shift)
        ctx.geometry = geometry
        ctx.coldness = coldness
        ctx.padding = padding
        return canvas

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        padded, cold, plain, canvas, total, shift = ctx.saved_tensors
        grad_padded = native.pool_backward(
            padded,
            cold,
            plain,
            (canvas, total, shift),
            grad.contiguous(),
            ctx.geometry,
            ctx.coldness,
        )
        p = ctx.padding
        h, w = padded.shape[1] - 2 * p, padded.shape[2] - 2 * p
        return grad_padded[:, p : p + h, p : p + w], None, None, None, None, None
