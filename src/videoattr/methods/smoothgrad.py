"""SmoothGrad (Smilkov et al. 2017): any gradient attributor averaged over noisy copies of the clip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from videoattr.core.base import Attributor, check_option_names
from videoattr.core.batching import chunk_slices
from videoattr.core.ops import apply_polarity, reduce_channels
from videoattr.core.progress import progress_bar
from videoattr.core.seeds import ClipKey, clip_seed
from videoattr.core.targets import Target, fold_targets
from videoattr.core.validation import (
    check_choice,
    check_finite_float,
    check_finite_tensor,
    check_positive_int,
    describe,
)
from videoattr.methods._gradient_base import GradientAttributor
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.methods.registry import build_attributor, register_method

Variant = Literal["mean", "square", "variance"]
VARIANTS: tuple[str, ...] = ("mean", "square", "variance")


class SmoothGrad(Attributor):
    """Average a gradient attributor over ``n`` noisy copies ``x + N(0, s^2)`` of each clip.

    ``s = stdev_spread * (max(x) - min(x))`` per clip. Each copy's raw attribution gets the wrapped
    attributor's polarity; the copies are aggregated by ``variant`` (``"mean"``, ``"square"``: mean of
    squares, ``"variance"``: variance across copies), then the wrapped attributor's channel reduction is
    applied. The noisy copies of all clips run as batched forwards of at most ``max_batch_size`` samples
    (for a wrapped IntegratedGradients, its own ``max_batch_size`` bounds the steps of those copies).

    Noise: each clip's ``n`` noise draws come from its own generator, seeded by ``seed`` and the clip's
    key (see `clip_seed`). The key is the clip's position in the call by default; pass
    ``keys=`` (e.g. dataset ids) so that a clip gets the same noise, and the same map, whatever other
    clips share its batch and whatever ``max_batch_size`` is.

    Args:
        attributor: a [`Saliency`][videoattr.methods.saliency.Saliency] or
            [`IntegratedGradients`][videoattr.methods.integrated_gradients.IntegratedGradients].
        n: number of noisy copies per clip. Default 25 (as the reference implementation).
        stdev_spread: noise std as a fraction of each clip's value range, finite and >= 0. Default 0.15.
        variant: ``"mean"`` (default), ``"square"`` (the reference implementation's command-line choice)
            or ``"variance"``.
        seed: seed of the per-clip noise generators (default 0); ``None`` draws from PyTorch's global
            generator (not reproducible, keys unused).
        max_batch_size: most noisy copies in one call of the wrapped attributor. Default 2 (about
            2.4 GB with the backward pass on r2plus1d_18 at 16 x 112 x 112); ``None``: all.
        progress: a bar counting the forwards (``n x B``, times the steps of a wrapped Integrated
            Gradients). Default ``True``; ``False`` hides it.

    Example:
        >>> sg = SmoothGrad(Saliency(model), n=25, variant="square")
        >>> maps = sg.attribute(clip, target=3, keys=["video_17", "video_42"])   # (B, 1, T, H, W)
    """

    method_name: ClassVar[str | None] = "smoothgrad"

    def __init__(
        self,
        attributor: GradientAttributor,
        *,
        n: int = 25,
        stdev_spread: float = 0.15,
        variant: Variant = "mean",
        seed: int | None = 0,
        max_batch_size: int | None = GRADIENT_BATCH,
        progress: bool = True,
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
        self.stdev_spread = check_finite_float(stdev_spread, "stdev_spread", minimum=0.0)
        check_choice(variant, "variant", VARIANTS)
        self.variant: Variant = variant
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None; got {describe(seed)}")
        self.seed = seed
        self.progress = bool(progress)

    def options(self) -> dict[str, Any]:
        """The wrapped attributor (recorded as its own config) and the noise options."""
        return {
            "attributor": self.inner,
            "n": self.n,
            "stdev_spread": self.stdev_spread,
            "variant": self.variant,
            "seed": self.seed,
            "max_batch_size": self.max_batch_size,
            "progress": self.progress,
        }

    def replace(self, **overrides: Any) -> SmoothGrad:
        """A copy with some options replaced; options of the wrapped attributor (e.g. ``polarity``) too."""
        if not overrides:
            return self
        check_option_names(self, overrides)
        own = {k: v for k, v in overrides.items() if k in self.options()}
        inner_overrides = {k: v for k, v in overrides.items() if k not in own}
        inner = own.pop("attributor", self.inner)
        if inner_overrides:
            inner = inner.replace(**inner_overrides)
        opts = {k: v for k, v in self.options().items() if k != "attributor"}
        return SmoothGrad(inner, **{**opts, **own})

    def option_names(self) -> tuple[str, ...]:
        """SmoothGrad's options and those of the wrapped attributor (``polarity``, ``steps``, ...)."""
        own = tuple(self.options())
        return own + tuple(n for n in self.inner.option_names() if n not in own)

    def noise(self, x: Tensor, keys: Sequence[ClipKey] | None = None) -> Tensor:
        """The noise a call adds: ``(n, B, C, T, H, W)``, copy ``i`` of clip ``b`` is ``x[b] + noise[i, b]``.

        Args:
            x: clips ``(B, C, T, H, W)``.
            keys: one key (int or str) per clip; default ``range(B)``.
        """
        keys = self._check_keys(keys, x.shape[0])
        stdev = self._stdev(x)
        draws = [self._clip_noise(x, b, keys[b], stdev[b]) for b in range(x.shape[0])]
        return torch.stack(draws, dim=1)

    def attribute(
        self,
        x: Tensor,
        target: Target = None,
        *,
        noise: Tensor | None = None,
        keys: Sequence[ClipKey] | None = None,
        **overrides: Any,
    ) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class of the clean clip), an int, one int per clip, a callable, or
                several targets per clip (a ``(B, K)`` tensor, ``"top3"``: ``(B, K, 1, T, H, W)`` maps,
                every target of a clip seeing the same noise).
            noise: optional explicit noise ``(n, B, C, T, H, W)``, finite, added to the clips instead of
                drawing it (``stdev_spread``, ``seed`` and ``keys`` are then unused); copy ``i`` of clip
                ``b`` is ``x[b] + noise[i, b]``.
            keys: one key per clip (ints or strings, e.g. dataset ids) seeding that clip's noise together
                with ``seed``. Default: the clip's position in the call (0, 1, ...), so a clip's noise
                then depends on where it sits in the batch.
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).
        """
        x, tgt, multi = self.prepare_multi(x, target)
        b = x.shape[0]
        keys = self._check_keys(keys, b)
        if noise is not None:
            if not isinstance(noise, Tensor) or noise.shape != (self.n, *x.shape):
                raise ValueError(
                    f"noise must have shape {(self.n, *x.shape)} (n, B, C, T, H, W); got {describe(noise)}"
                )
            check_finite_tensor(noise, "noise")
        if multi is not None:
            rows, indices, k = multi
            row_keys = [key for key in keys for _ in range(k)]
            row_noise = None if noise is None else noise.repeat_interleave(k, dim=1)
            return fold_targets(self.attribute(rows, indices, noise=row_noise, keys=row_keys), k)
        assert tgt is not None
        stdev = self._stdev(x)
        streams: list[torch.Generator | None] = [None] * b
        if noise is None and self.seed is not None:
            streams = [self._generator(x, key) for key in keys]
        total = b * self.n
        first = torch.zeros_like(x)
        second = torch.zeros_like(x)
        per_copy = int(getattr(self.inner, "steps", 1))  # forwards of one noisy copy
        with (
            self.session(),
            progress_bar(total * per_copy, self.method, enabled=self.progress) as bar,
        ):
            tgt = self.resolve_with_clean_logits(x, tgt)
            for chunk in chunk_slices(total, self.max_batch_size):
                s = torch.arange(chunk.start, chunk.stop, device=x.device)
                draw, row = s // b, s % b
                if noise is not None:
                    eps = noise.to(x.device, x.dtype)[draw, row]
                else:
                    # samples are draw-major, so each clip's generator yields its draws in order
                    eps = torch.stack([self._draw(x, streams[r]) for r in row.tolist()])
                    eps = eps * stdev[row].view(-1, 1, 1, 1, 1)
                raw = self.inner.raw_attribution(x[row] + eps, tgt, row)
                raw = apply_polarity(raw, self.inner.polarity).detach()
                first.index_add_(0, row, raw)
                if self.variant != "mean":
                    second.index_add_(0, row, raw * raw)
                bar.update((chunk.stop - chunk.start) * per_copy)
        mean = first / self.n
        if self.variant == "mean":
            agg = mean
        elif self.variant == "square":
            agg = second / self.n
        else:
            agg = second / self.n - mean * mean
        return reduce_channels(agg, self.inner.reduction).detach()

    # -- noise ---------------------------------------------------------------------------------------------
    def _stdev(self, x: Tensor) -> Tensor:
        return self.stdev_spread * (x.flatten(1).amax(1) - x.flatten(1).amin(1))

    @staticmethod
    def _check_keys(keys: Sequence[ClipKey] | None, b: int) -> list[ClipKey]:
        if keys is None:
            return list(range(b))
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            raise TypeError(
                f"keys must be a sequence of ints or strings, one per clip; got {describe(keys)}"
            )
        values = list(keys)
        if len(values) != b:
            raise ValueError(
                f"keys must have one key per clip (length {b}); got length {len(values)}"
            )
        for key in values:
            if isinstance(key, bool) or not isinstance(key, (int, str)):
                raise TypeError(f"keys must hold ints or strings; got element {describe(key)}")
        return values

    def _generator(self, x: Tensor, key: ClipKey) -> torch.Generator:
        assert self.seed is not None
        return torch.Generator(device=x.device).manual_seed(clip_seed(self.seed, key))

    def _clip_noise(self, x: Tensor, b: int, key: ClipKey, stdev: Tensor) -> Tensor:
        gen = self._generator(x, key) if self.seed is not None else None
        return torch.stack([self._draw(x, gen) for _ in range(self.n)]) * stdev

    @staticmethod
    def _draw(like: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.randn(
            like.shape[1:], generator=generator, device=like.device, dtype=like.dtype
        )


def _build_smoothgrad(
    model: nn.Module,
    *,
    attributor: str | GradientAttributor = "saliency",
    n: int = 25,
    stdev_spread: float = 0.15,
    variant: Variant = "mean",
    seed: int | None = 0,
    max_batch_size: int | None = GRADIENT_BATCH,
    progress: bool = True,
    **attributor_options: Any,
) -> SmoothGrad:
    """SmoothGrad over a registered gradient method (``attributor``, default ``"saliency"``).

    Options other than SmoothGrad's own (``polarity``, ``reduction``, ``steps``, ...) go to the wrapped
    method, which also gets ``max_batch_size``.
    """
    if isinstance(attributor, str):
        inner = build_attributor(
            attributor, model, max_batch_size=max_batch_size, **attributor_options
        )
    elif attributor_options:
        raise TypeError(
            f"options {sorted(attributor_options)} are for the wrapped method; give them to the "
            "attributor object itself"
        )
    else:
        inner = attributor
    if not isinstance(inner, GradientAttributor):
        raise TypeError(
            f"attributor must name a gradient method (saliency, input_x_gradient, integrated_gradients); "
            f"got {attributor!r}"
        )
    return SmoothGrad(
        inner,
        n=n,
        stdev_spread=stdev_spread,
        variant=variant,
        seed=seed,
        max_batch_size=max_batch_size,
        progress=progress,
    )


register_method(
    "smoothgrad",
    _build_smoothgrad,
    aliases=("SmoothGrad", "smooth_grad", "smooth-grad", "noise_tunnel"),
    kind="gradient",
    summary="a gradient method averaged over noisy copies of the clip (Smilkov et al. 2017)",
)
