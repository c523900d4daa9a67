"""Integrated Gradients (Sundararajan et al. 2017) with batched, memory-bounded steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, TypeAlias, overload

import numpy as np
import torch
from torch import Tensor, nn

from videoattr.core.base import Explanation
from videoattr.core.gradients import batched_input_gradients
from videoattr.core.model_checks import check_model_dtype
from videoattr.core.ops import Polarity, Reduction
from videoattr.core.progress import progress_bar
from videoattr.core.targets import ResolvedTarget, Target, fold_targets
from videoattr.core.validation import (
    check_choice,
    check_clip,
    check_finite_float,
    check_finite_tensor,
    check_positive_int,
    describe,
)
from videoattr.methods._gradient_base import GradientAttributor
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.methods.registry import register_method

Rule = Literal["left", "right", "middle", "trapezoid", "gausslegendre"]
RULES: tuple[str, ...] = ("left", "right", "middle", "trapezoid", "gausslegendre")
Baseline: TypeAlias = float | Tensor | Literal["black"]


def integration_points(steps: int, rule: Rule) -> tuple[Tensor, Tensor]:
    """Points ``alpha_k`` in ``[0, 1]`` and weights ``w_k`` (summing to 1) of an integration rule.

    ``left`` (the reference implementation): ``alpha_k = k / n`` for ``k = 0..n-1``; ``right``: ``k = 1..n``; ``middle``:
    ``(k + 1/2) / n``; ``trapezoid``: ``n`` evenly spaced points including both ends with halved end
    weights; ``gausslegendre``: Gauss-Legendre nodes mapped to ``[0, 1]``. Returned in float64.
    """
    check_positive_int(steps, "steps")
    check_choice(rule, "rule", RULES)
    n = steps
    k = torch.arange(n, dtype=torch.float64)
    if rule == "left":
        return k / n, torch.full((n,), 1.0 / n, dtype=torch.float64)
    if rule == "right":
        return (k + 1) / n, torch.full((n,), 1.0 / n, dtype=torch.float64)
    if rule == "middle":
        return (k + 0.5) / n, torch.full((n,), 1.0 / n, dtype=torch.float64)
    if rule == "trapezoid":
        if n < 2:
            raise ValueError(f"steps must be >= 2 for the trapezoid rule; got {n}")
        w = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        w[0] = w[-1] = 0.5 / (n - 1)
        return k / (n - 1), w
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return torch.from_numpy(0.5 * (nodes + 1)), torch.from_numpy(0.5 * weights)


def black_baseline(mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """The normalised black clip ``-mean / std`` per channel, shaped ``(1, C, 1, 1, 1)`` (the reference implementation's baseline)."""
    m = torch.tensor(list(mean), dtype=torch.float32)
    s = torch.tensor(list(std), dtype=torch.float32)
    if m.shape != s.shape or m.dim() != 1:
        raise ValueError(
            f"mean and std must be sequences of equal length; got {list(mean)} and {list(std)}"
        )
    return (-m / s).view(1, -1, 1, 1, 1)


class IntegratedGradients(GradientAttributor):
    """Integrated Gradients: ``(x - x0) * sum_k w_k grad f(x0 + alpha_k (x - x0))``.

    All steps of all clips run as batched forwards of at most ``max_batch_size`` samples; gradients are
    folded into one accumulator per chunk, so memory does not grow with ``steps``.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        steps: number of integration points. Default 25 (as the reference implementation).
        rule: ``"left"`` (default, as the reference implementation), ``"right"``, ``"middle"``, ``"trapezoid"`` or
            ``"gausslegendre"``; see [`integration_points`][videoattr.methods.integrated_gradients.integration_points].
        baseline: ``x0``: a scalar (default ``0.0``), a tensor broadcastable to ``x``, or ``"black"``
            (needs ``mean`` and ``std``: the normalised black pixel ``-mean/std``). A tensor with a batch
            dimension ``B`` gives each clip its own baseline. NaN or infinite values are rejected.
        mean, std: the model's per-channel normalisation, only for ``baseline="black"``.
        multiply_by_inputs: multiply the averaged gradient by ``x - x0`` (default ``True``; ``False``
            returns the path-averaged gradient).
        polarity, reduction: as in [`Saliency`][videoattr.methods.saliency.Saliency] (defaults ``"signed"``,
            ``"sum"``).
        max_batch_size: most samples (steps x clips) in one forward. Default 2 (about 2.4 GB with
            the backward pass on r2plus1d_18 at 16 x 112 x 112); ``None``: all at once.
        eval_mode: run the model in eval mode during the call.
        progress: a bar counting the ``steps x B`` forwards (each with its backward pass). Default
            ``True``; ``False`` hides it.

    Example:
        >>> ig = IntegratedGradients(model, steps=50, rule="gausslegendre", max_batch_size=16)
        >>> maps, gap = ig.attribute(clip, target=3, return_gap=True)   # (B, 1, T, H, W), (B,)
    """

    method_name: ClassVar[str | None] = "integrated_gradients"

    def __init__(
        self,
        model: nn.Module,
        *,
        steps: int = 25,
        rule: Rule = "left",
        baseline: Baseline = 0.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        multiply_by_inputs: bool = True,
        polarity: Polarity = "signed",
        reduction: Reduction | None = "sum",
        max_batch_size: int | None = GRADIENT_BATCH,
        eval_mode: bool = True,
        progress: bool = True,
    ) -> None:
        super().__init__(
            model,
            polarity=polarity,
            reduction=reduction,
            max_batch_size=max_batch_size,
            eval_mode=eval_mode,
        )
        self.alphas, self.weights = integration_points(steps, rule)
        self.steps, self.rule = steps, rule
        if isinstance(baseline, str):
            if baseline != "black":
                raise ValueError(f"baseline must be a float, a tensor or 'black'; got {baseline!r}")
            if mean is None or std is None:
                raise ValueError(
                    "baseline='black' needs the model's mean and std (mean=..., std=...)"
                )
            baseline = black_baseline(mean, std)
        elif isinstance(baseline, bool) or not isinstance(baseline, (int, float, Tensor)):
            raise TypeError(
                f"baseline must be a float, a tensor or 'black'; got {describe(baseline)}"
            )
        if isinstance(baseline, Tensor):
            if not baseline.is_floating_point():
                raise TypeError(
                    f"baseline tensor must be floating point; got dtype {baseline.dtype}"
                )
            check_finite_tensor(baseline, "baseline")
        self.baseline: float | Tensor = (
            check_finite_float(baseline, "baseline")
            if not isinstance(baseline, Tensor)
            else baseline
        )
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]
        self.multiply_by_inputs = bool(multiply_by_inputs)
        self.progress = bool(progress)

    @overload
    def attribute(
        self,
        x: Tensor,
        target: Target = ...,
        *,
        return_gap: Literal[False] = ...,
        **overrides: Any,
    ) -> Tensor: ...

    @overload
    def attribute(
        self, x: Tensor, target: Target = ..., *, return_gap: Literal[True], **overrides: Any
    ) -> tuple[Tensor, Tensor]: ...

    def attribute(
        self, x: Tensor, target: Target = None, *, return_gap: bool = False, **overrides: Any
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class of the clean clip), an int, one int per clip, a callable, or
                several targets per clip (a ``(B, K)`` tensor, ``"top3"``).
            return_gap: also return the completeness gap ``sum(attr) - (f(x) - f(x0))`` per clip
                ``(B,)``, computed on the raw attribution before polarity and reduction (two extra
                forwards). It shrinks as ``steps`` grows.
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).

        Returns:
            ``(B, 1, T, H, W)`` attributions, or ``(attributions, gap)`` with ``return_gap=True``; with
            several targets per clip ``(B, K, 1, T, H, W)`` (and a ``(B, K)`` gap).
        """
        x, tgt, multi = self.prepare_multi(x, target)
        if multi is not None:
            rows, indices, k = multi
            inst = self
            base = self.baseline
            if isinstance(base, Tensor) and base.dim() == 5 and base.shape[0] == x.shape[0] > 1:
                new = self.replace(baseline=base.repeat_interleave(k, dim=0))
                assert isinstance(new, IntegratedGradients)
                inst = new
            if return_gap:
                attr, gap = inst.attribute(rows, indices, return_gap=True)
                return fold_targets(attr, k), fold_targets(gap, k)
            return fold_targets(inst.attribute(rows, indices), k)
        assert tgt is not None
        with self.session():
            tgt = self.resolve_with_clean_logits(x, tgt)
            forwards = self.steps * x.shape[0]
            with progress_bar(forwards, self.method, enabled=self.progress) as bar:
                raw = self.raw_attribution(x, tgt, on_forward=bar.update)
            attr = self.postprocess(raw).detach()
            if not return_gap:
                return attr
            x0 = self._baseline_like(x)
            with torch.no_grad():
                delta = tgt.score(self.forward(x)) - tgt.score(self.forward(x0))

            if self.multiply_by_inputs:
                total = raw.flatten(1).sum(1)
            else:
                total = (raw * (x - x0)).flatten(1).sum(1)
            return attr, (total - delta).detach()

    def explain(
        self, x: Tensor, target: Target = None, *, return_gap: bool = False, **overrides: Any
    ) -> Explanation:
        """Attribute and report what the model said, with the completeness gap on request.

        Args:
            x: clips ``(B, C, T, H, W)``.
            target: as in [`attribute`][videoattr.methods.integrated_gradients.IntegratedGradients.attribute].
            return_gap: also compute the completeness gap (as ``attribute(..., return_gap=True)``)
                and put it in ``extras["gap"]``: ``(B,)``, or ``(B, K)`` with several targets per
                clip. Default ``False`` (no ``"gap"`` entry).
            **overrides: any constructor option, for this call only.

        Returns:
            An [`Explanation`][videoattr.core.base.Explanation] whose ``maps`` are what ``attribute``
            returns without the gap.
        """
        if not return_gap:
            return super().explain(x, target)
        x = check_clip(x)
        check_model_dtype(self.model, x, "x")
        logits = self.clean_logits(x)
        maps, gap = self.attribute(x, target, return_gap=True)
        return self.make_explanation(maps, target, logits, extras={"gap": gap})

    def options(self) -> dict[str, Any]:
        """The constructor's options (``baseline`` as the tensor or float in use)."""
        return {
            "steps": self.steps,
            "rule": self.rule,
            "baseline": self.baseline,
            "mean": self.mean,
            "std": self.std,
            "multiply_by_inputs": self.multiply_by_inputs,
            "polarity": self.polarity,
            "reduction": self.reduction,
            "max_batch_size": self.max_batch_size,
            "eval_mode": self.eval_mode,
            "progress": self.progress,
        }

    def _baseline_like(self, x: Tensor) -> Tensor:
        if isinstance(self.baseline, Tensor):
            try:
                return torch.broadcast_to(self.baseline.to(x.device, x.dtype), x.shape)
            except RuntimeError as err:
                raise ValueError(
                    f"baseline of shape {tuple(self.baseline.shape)} does not broadcast to x of shape "
                    f"{tuple(x.shape)}"
                ) from err
        return torch.full_like(x, self.baseline)

    def raw_attribution(
        self,
        x: Tensor,
        target: ResolvedTarget,
        clip_index: Tensor | None = None,
        *,
        on_forward: Callable[[int], object] | None = None,
    ) -> Tensor:
        """The raw path integral ``(N, C, T, H, W)`` (see the base class); ``on_forward(k)`` is
        called after each forward of ``k`` samples (a progress bar's ``update``)."""
        n, steps = x.shape[0], self.steps
        x0 = self._baseline_like(x)
        diff = x - x0
        alphas = self.alphas.to(x.device, x.dtype)
        weights = self.weights.to(x.device, x.dtype)
        index = torch.arange(n, device=x.device) if clip_index is None else clip_index
        acc = torch.zeros_like(x)

        def samples(chunk: slice) -> tuple[Tensor, Tensor]:
            s = torch.arange(chunk.start, chunk.stop, device=x.device)
            step, row = s // n, s % n
            a = alphas[step].view(-1, 1, 1, 1, 1)
            return x0[row] + a * diff[row], index[row]

        def fold(chunk: slice, grad: Tensor, _score: Tensor, _index: Tensor) -> None:
            s = torch.arange(chunk.start, chunk.stop, device=x.device)
            step, row = s // n, s % n
            acc.index_add_(0, row, grad * weights[step].view(-1, 1, 1, 1, 1))
            if on_forward is not None:
                on_forward(chunk.stop - chunk.start)

        batched_input_gradients(self.model, steps * n, samples, target, self.max_batch_size, fold)
        return acc * diff if self.multiply_by_inputs else acc


register_method(
    "integrated_gradients",
    IntegratedGradients,
    aliases=("IntegratedGradients", "integrated_grad", "ig", "integrated-gradients", "intgrad"),
    kind="gradient",
    summary="path integral of gradients from a baseline clip (Sundararajan et al. 2017)",
)
