"""The perturbation operator: a blur (or fade) pyramid of each clip, blended by a mask.

Shared by the extremal perturbation methods (2D-EP, 3D-EP, STEP), occlusion and RISE (through
their perturbation baseline) and the mask metrics. Level ``j = 0 .. L-1`` of the pyramid is every
frame blurred by a Gaussian of std ``(1 - j / (L-1)) * max_blur`` pixels (``"blur"``; level ``L-1``
is the frame itself), or the frame scaled by ``j / (L-1)`` (``"fade"``). A mask value ``m`` picks the
level ``q = m (L-1)``, blending levels ``floor(q)`` and ``min(floor(q) + 1, L-1)`` linearly: ``m = 1``
keeps a pixel, ``m = 0`` blurs (or blacks) it out fully. The pyramid is built once per call (the
blurs as products with banded matrices, all widths at once, see
[`gaussian_blur_levels`][videoattr.core.ops.gaussian_blur_levels]); applying a mask is a gather and a
blend (the native loop of [`native`][videoattr.core.native] on the CPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

import videoattr.core.native as native
from videoattr.core.ops import gaussian_blur_levels
from videoattr.core.validation import check_choice, check_clip, check_positive_int

PerturbationKind = Literal["blur", "fade"]
PERTURBATION_KINDS: tuple[str, ...] = ("blur", "fade")

#: How many pyramids a [`reuse_pyramids`][videoattr.core.pyramid.reuse_pyramids] block keeps (the
#: most recently used).
REUSED_PYRAMIDS = 2


class Perturbation:
    """Blur/fade pyramid of a batch of clips, applied with masks.

    Args:
        x: clips ``(B, C, T, H, W)``.
        num_levels: number of pyramid levels ``L`` (at least 2). Default 8.
        max_blur: std in pixels of the strongest blur (level 0). Default 20.
        kind: ``"blur"`` (spatial Gaussian blur per frame) or ``"fade"`` (scale towards 0). Default
            ``"blur"``.
        kernel: what blends: ``"auto"`` (default: the native loop of
            [`native`][videoattr.core.native] for CPU float32/float64 masks of the pyramid's
            dtype when it can be built, PyTorch operations otherwise), ``"native"`` (it or an error) or
            ``"pytorch"``. All agree up to float rounding.

    Attributes:
        pyramid: ``(B, C, T, H, W, L)`` levels, last dimension fastest (no autograd graph).

    Example:
        >>> x = torch.randn(2, 3, 4, 16, 16)
        >>> pert = Perturbation(x, num_levels=8)
        >>> torch.allclose(pert.apply(torch.ones(2, 4, 16, 16)), x)
        True
    """

    def __init__(
        self,
        x: Tensor,
        num_levels: int = 8,
        max_blur: float = 20.0,
        kind: PerturbationKind = "blur",
        kernel: Literal["auto", "native", "pytorch"] = "auto",
    ) -> None:
        x = check_clip(x, "x")
        check_choice(kernel, "kernel", ("auto", "native", "pytorch"))
        self.kernel = kernel
        self.num_levels = check_positive_int(num_levels, "num_levels", minimum=2)
        if not isinstance(max_blur, (int, float)) or isinstance(max_blur, bool) or not max_blur > 0:
            raise ValueError(f"max_blur must be a positive std in pixels; got {max_blur!r}")
        check_choice(kind, "perturbation", PERTURBATION_KINDS)
        self.kind: PerturbationKind = kind
        self.max_blur = float(max_blur)
        self.clip_shape: tuple[int, int, int, int] = (
            x.shape[1],
            x.shape[2],
            x.shape[3],
            x.shape[4],
        )
        self._offsets: Tensor | None = None
        self._rows: tuple[Tensor, Tensor] | None = None
        reused = _reused_pyramid(x, self.num_levels, self.max_blur, kind)
        if reused is not None:
            self.pyramid = reused
            return
        # Float32 level positions as in the reference (torch.linspace), so blur widths match exactly.
        fractions = torch.linspace(0, 1, self.num_levels, dtype=torch.float32).tolist()
        sigmas = [
            float(torch.tensor((1 - f) * self.max_blur, dtype=torch.float32)) for f in fractions
        ]
        with torch.no_grad():
            # Filled clip by clip: the levels of one clip beside the pyramid at peak (not a second
            # pyramid), each clip's block written in one pass (level by level, every write would
            # touch every cache line of the pyramid, levels being the fastest dimension).
            self.pyramid = x.new_empty((*x.shape, self.num_levels))
            for i in range(x.shape[0]):
                clip = x[i].detach()
                if kind == "blur":
                    gaussian_blur_levels(clip, sigmas, out=self.pyramid[i])
                else:
                    torch.stack([clip * f for f in fractions], dim=-1, out=self.pyramid[i])
        _keep_pyramid(x, self.num_levels, self.max_blur, kind, self.pyramid)

    @property
    def batch_size(self) -> int:
        """Number of clips ``B`` in the pyramid."""
        return int(self.pyramid.shape[0])

    def _element_offsets(self) -> Tensor:
        if self._offsets is None:
            c, t, h, w = self.clip_shape
            self._offsets = torch.arange(c * t * h * w, device=self.pyramid.device).view(
                1, c, t, h, w
            )
        return self._offsets

    def apply(self, mask: Tensor, clip_index: Tensor | None = None) -> Tensor:
        """Perturb clips with masks.

        Args:
            mask: ``(N, T, H, W)`` or ``(N, 1, T, H, W)`` values in ``[0, 1]`` (differentiable).
            clip_index: ``(N,)`` long tensor, the clip of the pyramid that mask ``n`` perturbs;
                ``None`` means mask ``n`` perturbs clip ``n`` (``N = B``).

        Returns:
            ``(N, C, T, H, W)`` perturbed clips, differentiable with respect to ``mask``.
        """
        _, t, h, w = self.clip_shape
        if mask.dim() == 5 and mask.shape[1] == 1:
            mask = mask[:, 0]
        if mask.dim() != 4 or tuple(mask.shape[1:]) != (t, h, w):
            raise ValueError(f"mask must have shape (N, {t}, {h}, {w}); got {tuple(mask.shape)}")
        n = mask.shape[0]
        if clip_index is None:
            if n != self.batch_size:
                raise ValueError(f"clip_index is required for {n} masks on {self.batch_size} clips")
            clip_index = torch.arange(n, device=self.pyramid.device)
        if self._native_applies(mask):
            flat = self.pyramid.view(self.batch_size, self.clip_shape[0], -1, self.num_levels)
            index = clip_index.to(device=self.pyramid.device, dtype=torch.long).contiguous()
            out: Tensor = NativeBlend.apply(mask.contiguous(), flat, index)
            return out.view(n, *self.clip_shape)
        levels = self.num_levels
        q = mask.unsqueeze(1) * (levels - 1)  # (N, 1, T, H, W)
        k = q.detach().floor().clamp(0, levels - 1)
        frac = q - k
        k_lo = k.long()
        index = self._row_offsets(clip_index) + k_lo
        flat = self.pyramid.view(-1)
        y0 = torch.take(flat, index)
        y1 = torch.take(flat, index + (k_lo < levels - 1))  # min(k + 1, L - 1)
        return (1 - frac) * y0 + frac * y1

    def _native_applies(self, mask: Tensor) -> bool:
        """Whether the native loop blends ``mask`` (raises for ``kernel="native"`` when it cannot)."""
        suitable = (
            mask.device.type == "cpu"
            and self.pyramid.device.type == "cpu"
            and mask.dtype == self.pyramid.dtype
            and mask.dtype in native.DTYPES
        )
        unsuitable = (
            None
            if suitable
            else "blends CPU float32/float64 masks of the pyramid's dtype; got a "
            f"{mask.dtype} mask on {mask.device} for a {self.pyramid.dtype} pyramid on "
            f"{self.pyramid.device}"
        )
        return native.use(self.kernel, unsuitable)

    def _row_offsets(self, clip_index: Tensor) -> Tensor:
        """``(N, C, T, H, W)`` offsets of level 0 of every element of the clips ``clip_index`` (cached)."""
        clip_index = clip_index.to(self.pyramid.device)
        cached = self._rows
        if cached is not None and torch.equal(cached[0], clip_index):
            return cached[1]
        c, t, h, w = self.clip_shape
        base = clip_index.view(-1, 1, 1, 1, 1) * (c * t * h * w) + self._element_offsets()
        base = base * self.num_levels
        self._rows = (clip_index.clone(), base)
        return base

    def __repr__(self) -> str:
        return (
            f"Perturbation(kind={self.kind!r}, num_levels={self.num_levels}, max_blur={self.max_blur}, "
            f"pyramid={tuple(self.pyramid.shape)})"
        )


class NativeBlend(torch.autograd.Function):
    """[`Perturbation.apply`][videoattr.core.pyramid.Perturbation.apply]'s blend by the native loop.

    ``mask`` ``(N, T, H, W)``, ``pyramid`` ``(B, C, T * H * W, L)`` and ``clip_index`` ``(N,)``, all
    contiguous on the CPU; returns ``(N, C, T * H * W)``, differentiable with respect to ``mask``.
    """

    @staticmethod
    def forward(ctx: Any, mask: Tensor, pyramid: Tensor, clip_index: Tensor) -> Tensor:
        flat = mask.reshape(mask.shape[0], -1)
        if clip_index.numel() and (
            int(clip_index.min()) < 0 or int(clip_index.max()) >= pyramid.shape[0]
        ):
            raise IndexError(
                f"clip_index must lie in [0, {pyramid.shape[0]}); got "
                f"[{int(clip_index.min())}, {int(clip_index.max())}]"
            )
        ctx.save_for_backward(flat, pyramid, clip_index)
        ctx.mask_shape = mask.shape
        return native.blend_forward(pyramid, flat, clip_index)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        flat, pyramid, clip_index = ctx.saved_tensors
        grad_mask = native.blend_backward(pyramid, flat, clip_index, grad.contiguous())
        return grad_mask.view(ctx.mask_shape), None, None


@dataclass
class _Built:
    """A pyramid a `reuse_pyramids` block keeps: the clips (a reference) and their version then."""

    clips: Tensor
    version: int
    levels: int
    max_blur: float
    kind: str
    pyramid: Tensor

    def serves(self, x: Tensor, levels: int, max_blur: float, kind: str) -> bool:
        """Whether this pyramid is the one of ``x`` under these settings."""
        c = self.clips
        if (levels, max_blur, kind) != (self.levels, self.max_blur, self.kind):
            return False
        if c.shape != x.shape or c.dtype != x.dtype or c.device != x.device:
            return False
        if c._version != self.version:  # the clips kept were changed in place since
            return False
        same_memory = (
            c.data_ptr() == x.data_ptr()
            and c.stride() == x.stride()
            and c._version == x._version  # views share the counter: x is unchanged too
        )
        return same_memory or bool(torch.equal(c, x))


_BUILT: ContextVar[list[_Built] | None] = ContextVar("videoattr_reused_pyramids", default=None)


@contextmanager
def reuse_pyramids() -> Iterator[None]:
    """Build the pyramid of a batch of clips once for all the calls of the block.

    Inside the block, a [`Perturbation`][videoattr.core.pyramid.Perturbation] of clips equal to
    those of an earlier one (same values, shape, dtype and device, same levels, blur and kind) shares
    that one's pyramid instead of blurring again: explaining several classes of the same clips, or
    scoring the masks an extremal perturbation call returned, blurs them once. The block keeps the
    last `REUSED_PYRAMIDS` pyramids (and a reference to their clips) until it ends. Clips changed in
    place by PyTorch operations are recognised (their version counter moved); clips changed behind
    PyTorch's back (through a NumPy array sharing their memory) are not: do not do that inside the
    block. Blocks nest; an inner block starts empty.

    Example:
        >>> x = torch.randn(1, 3, 4, 16, 16)
        >>> with reuse_pyramids():
        ...     first, second = Perturbation(x), Perturbation(x.clone())
        >>> second.pyramid is first.pyramid
        True
    """
    token = _BUILT.set([])
    try:
        yield
    finally:
        _BUILT.reset(token)


def _reused_pyramid(x: Tensor, levels: int, max_blur: float, kind: str) -> Tensor | None:
    built = _BUILT.get()
    if built is None:
        return None
    for i, entry in enumerate(built):
        if entry.serves(x, levels, max_blur, kind):
            built.append(built.pop(i))  # most recently used last
            return entry.pyramid
    return None


def _keep_pyramid(x: Tensor, levels: int, max_blur: float, kind: str, pyramid: Tensor) -> None:
    built = _BUILT.get()
    if built is None:
        return
    clips = x.detach()
    built.append(_Built(clips, clips._version, levels, max_blur, kind, pyramid))
    del built[:-REUSED_PYRAMIDS]
