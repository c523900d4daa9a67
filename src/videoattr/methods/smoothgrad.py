"""SmoothGrad (Smilkov et al. 2017): any gradient attributor averaged over noisy copies of the clip."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from videoattr.core.base import Attributor
from videoattr.core.batching import chunk_slices
from videoattr.core.ops import apply_polarity, reduce_channels
from videoattr.core.targets import Target
from videoattr.core.validation import check_choice, check_positive_int, describe
from videoattr.methods._gradient_base import GradientAttributor

Variant = Literal["mean", "square", "variance"]
VARIANTS: tuple[str, ...] = ("mean", "square", "variance")


class SmoothGrad(Attributor):
    """Average a gradient attributor over ``n`` noisy copies ``x + N(0, s^2)`` of each clip.

    ``s = stdev_spread * (max(x) - min(x))`` per clip. Each copy's raw attribution gets the wrapped
    attributor's polarity; the copies are aggregated by ``variant`` (``"mean"``, ``"square"``: mean of
    squares, ``"variance"``: variance across copies), then the wrapped attributor's channel reduction is
    applied. The noisy copies of all clips run as batched forwards of at most ``max_batch_size`` samples
    (for a wrapped IntegratedGradients, its own ``max_batch_size`` bounds the steps of those copies).

    Args:
        attributor: a [`Saliency`][videoattr.methods.saliency.Saliency] or
            [`IntegratedGradients`][videoattr.methods.integrated_gradients.IntegratedGradients].
        n: number of noisy copies per clip. Default 25 (the seed).
        stdev_spread: noise std as a fraction of each clip's value range. Default 0.15.
        variant: ``"mean"`` (default), ``"square"`` (the seed's command-line choice) or ``"variance"``.
        seed: seed of the noise generator (default 0); the same seed gives the same answer whatever
            ``max_batch_size`` is.
        max_batch_size: most noisy copies in one call of the wrapped attributor (``None``: all).

    Example:
        >>> sg = SmoothGrad(Saliency(model), n=25, variant="square")
        >>> maps = sg.attribute(clip, target=3)   # (B, 1, T, H, W)
    """

    def __init__(
        self,
        attributor: GradientAttributor,
        *,
        n: int = 25,
        stdev_spread: float = 0.15,
        variant: Variant = "mean",
        seed: int | None = 0,
        max_batch_size: int | None = None,
    ) -> None:
        if not isinstance(attributor, GradientAttributor):
            raise TypeError(
                "attributor must be a gradient attributor (Saliency or IntegratedGradients); got "
                f"{describe(attributor)}"
            )
        super().__init__(
            attributor.model, max_batch_size=max_batch_size, eval_mode=attributor.eval_mode
        )
        self.inner = attributor
        self.n = check_positive_int(n, "n")
        if (
            isinstance(stdev_spread, bool)
            or not isinstance(stdev_spread, (int, float))
            or stdev_spread < 0
        ):
            raise ValueError(f"stdev_spread must be a float >= 0; got {stdev_spread!r}")
        self.stdev_spread = float(stdev_spread)
        check_choice(variant, "variant", VARIANTS)
        self.variant: Variant = variant
        self.seed = seed

    def attribute(self, x: Tensor, target: Target = None, *, noise: Tensor | None = None) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class of the clean clip), an int, one int per clip, or a callable.
            noise: optional explicit noise ``(n, B, C, T, H, W)`` added to the clips instead of drawing
                it (``stdev_spread`` and ``seed`` are then unused); copy ``i`` of clip ``b`` is
                ``x[b] + noise[i, b]``.
        """
        x, tgt = self.prepare(x, target)
        b = x.shape[0]
        if noise is not None and (
            not isinstance(noise, Tensor) or noise.shape != (self.n, *x.shape)
        ):
            raise ValueError(
                f"noise must have shape {(self.n, *x.shape)} (n, B, C, T, H, W); got {describe(noise)}"
            )
        stdev = self.stdev_spread * (x.flatten(1).amax(1) - x.flatten(1).amin(1))
        generator = None
        if noise is None and self.seed is not None:
            generator = torch.Generator(device=x.device).manual_seed(self.seed)
        total = b * self.n
        first = torch.zeros_like(x)
        second = torch.zeros_like(x)
        with self.session():
            tgt = self.resolve_with_clean_logits(x, tgt)
            for chunk in chunk_slices(total, self.max_batch_size):
                s = torch.arange(chunk.start, chunk.stop, device=x.device)
                draw, row = s // b, s % b
                if noise is not None:
                    eps = noise.to(x.device, x.dtype)[draw, row]
                else:
                    eps = torch.stack(
                        [self._draw(x.shape[1:], x, generator) for _ in range(len(s))]
                    )
                    eps = eps * stdev[row].view(-1, 1, 1, 1, 1)
                raw = self.inner.raw_attribution(x[row] + eps, tgt, row)
                raw = apply_polarity(raw, self.inner.polarity).detach()
                first.index_add_(0, row, raw)
                if self.variant != "mean":
                    second.index_add_(0, row, raw * raw)
        mean = first / self.n
        if self.variant == "mean":
            agg = mean
        elif self.variant == "square":
            agg = second / self.n
        else:
            agg = second / self.n - mean * mean
        return reduce_channels(agg, self.inner.reduction).detach()

    @staticmethod
    def _draw(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
