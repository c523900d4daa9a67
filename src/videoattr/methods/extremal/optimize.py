"""The optimisation loop of the extremal perturbation engine.

One loop serves 2D-EP, 3D-EP and STEP; a frozen [`PerturbationSettings`][videoattr.methods.extremal.optimize.PerturbationSettings] says which. Every clip x
area of a call is one row of a single batch: each iteration generates all masks, perturbs the clips,
runs the model once on the whole batch (or on chunks of at most ``max_batch_size`` rows, accumulating
gradients), and takes one optimiser step on all mask parameters. Rows do not interact, so the answer does
not depend on how the batch is split.

Iteration ``t`` (counted from 0) evaluates the energy of the masks generated from the current parameters
with ``lambda_t = area_weight * area_growth^t`` and the smoothness weight (``0`` before
``smoothness_start``), records the weighted terms in the history, steps, and clamps the parameters to
``[0, 1]``. The masks returned are those generated at the start of the last iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from videoattr.core.base import require_grad_path
from videoattr.core.batching import chunk_slices
from videoattr.core.targets import ResolvedTarget
from videoattr.core.validation import check_choice, check_positive_int
from videoattr.methods.extremal.masks import MaskGenerator, covering_sigma
from videoattr.methods.extremal.objectives import (
    AREA_MODES,
    VARIANTS,
    AreaMode,
    AreaTerm,
    SmoothnessTerm,
    Variant,
    reward,
    rows_per_mask,
)
from videoattr.methods.extremal.pyramid import PERTURBATION_KINDS, Perturbation, PerturbationKind

OptimizerName = Literal["sgd", "adam"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
TieBreak = Literal["sort", "stable", "random"]
TIE_BREAKS: tuple[str, ...] = ("sort", "stable", "random")

#: The paper's per-iteration growth of STEP's area weight (doubles every 800 iterations).
STEP_AREA_GROWTH = 1.0008668


def default_sigma(height: int, width: int, step: int = 7) -> float:
    """The bump radius for ``(H, W)`` frames: ``max(step, round(3 min(H, W) / 28) - 1)``.

    The straight line through the paper's two settings, 11 pixels at 112 and 23 at 224, never below the
    grid stride ``step`` (smaller bumps leave gaps between grid points), raised to the next value for
    which the mask canvas covers the frame ([`covering_sigma`][videoattr.methods.extremal.masks.covering_sigma]):
    7 for frames up to 74 pixels, 11 at 112, 17 at 168, 23 at 224.
    """
    sigma = float(max(step, round(3 * min(height, width) / 28) - 1))
    return covering_sigma((height, width), step, sigma)


@dataclass(frozen=True)
class PerturbationSettings:
    """Every setting of the extremal perturbation engine. Defaults: the paper's 3D-EP.

    Attributes:
        area_mode: ``"frame"`` (2D-EP: area ``a`` in every frame) or ``"clip"`` (3D-EP, STEP). Default
            ``"clip"``.
        variant: ``"preserve"`` (keep the target with area ``a``), ``"delete"`` (lose it by removing
            area ``a``) or ``"dual"`` (both). Default ``"preserve"``.
        perturbation: ``"blur"`` or ``"fade"``. Default ``"blur"``.
        num_levels: pyramid levels ``L`` (>= 2). Default 8.
        max_blur: std of the strongest blur in pixels. Default 20.
        step: stride of the mask parameter grid in pixels. Default 7.
        sigma: bump radius in pixels; ``None`` scales it with the input ([`default_sigma`][videoattr.methods.extremal.optimize.default_sigma]: 11 at 112,
            23 at 224, at least ``step``). Default ``None``.
        coldness: inverse temperature of the mask generator's soft-max pooling. Default 20.
        max_iter: iterations. Default 2000.
        optimizer: ``"sgd"`` (the paper) or ``"adam"``. Default ``"sgd"``.
        lr: learning rate. Default 0.05.
        momentum: SGD momentum. Default 0.9.
        dampening: SGD dampening. Default 0.9.
        betas: Adam's betas. Default ``(0.9, 0.999)``.
        reward_weight: weight of the reward. Default 100 (2D/3D-EP; STEP uses 1).
        area_weight: ``lambda`` at iteration 0. Default 300.
        area_growth: factor applied to ``lambda`` after every iteration. Default 1 (STEP: 1.0008668).
        smoothness_weight: weight of STEP's smoothness term once active; 0 disables it. Default 0 (STEP:
            300).
        smoothness_start: first iteration at which the smoothness term acts. Default 101.
        smoothness_kernel: ``(kt, kh, kw)`` of the ellipsoid. Default ``(7, 11, 11)``.
        smoothness_stride: convolution stride; ``None`` is ``(1, kh, kw)``. Default ``None``.
        tie_break: how the area and smoothness sorts order equal values (many mask values are equal, and
            the result is sensitive to which of them the reference pushes to 0): ``"sort"`` (PyTorch's
            default sort, as in the reference code; deterministic on a given device), ``"stable"`` (by
            position, the same on every device) or ``"random"`` (a permutation drawn each iteration from a
            generator seeded with ``seed``; the paper's STEP code draws one without a seed). Default
            ``"sort"``.
        seed: seed of the ``"random"`` tie-breaking. Default 0.
        early_stop: patience in iterations: stop when no row's energy has improved by more than
            ``early_stop_tol`` (relative) over the last ``early_stop`` iterations; ``None`` runs all
            iterations. With a growing ``lambda`` (STEP) the energy rises with the schedule, so this
            stops once the schedule dominates. Default ``None``.
        early_stop_tol: relative improvement that counts. Default 1e-4.
        progress: show a tqdm progress bar. Default ``True``.
    """

    area_mode: AreaMode = "clip"
    variant: Variant = "preserve"
    perturbation: PerturbationKind = "blur"
    num_levels: int = 8
    max_blur: float = 20.0
    step: int = 7
    sigma: float | None = None
    coldness: float = 20.0
    max_iter: int = 2000
    optimizer: OptimizerName = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    dampening: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    reward_weight: float = 100.0
    area_weight: float = 300.0
    area_growth: float = 1.0
    smoothness_weight: float = 0.0
    smoothness_start: int = 101
    smoothness_kernel: tuple[int, int, int] = (7, 11, 11)
    smoothness_stride: tuple[int, int, int] | None = None
    tie_break: TieBreak = "sort"
    seed: int = 0
    early_stop: int | None = None
    early_stop_tol: float = 1e-4
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice(self.area_mode, "area_mode", AREA_MODES)
        check_choice(self.variant, "variant", VARIANTS)
        check_choice(self.perturbation, "perturbation", PERTURBATION_KINDS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.tie_break, "tie_break", TIE_BREAKS)
        if (
            isinstance(self.num_levels, bool)
            or not isinstance(self.num_levels, int)
            or self.num_levels < 2
        ):
            raise ValueError(
                f"num_levels must be an int >= 2 (the pyramid needs the clip and at least one perturbed "
                f"level); got {self.num_levels!r}"
            )
        check_positive_int(self.step, "step")
        check_positive_int(self.max_iter, "max_iter")
        if self.early_stop is not None:
            check_positive_int(self.early_stop, "early_stop")
        for name in ("max_blur", "coldness", "lr"):
            if not _positive(getattr(self, name)):
                raise ValueError(f"{name} must be a positive number; got {getattr(self, name)!r}")
        if self.sigma is not None and not _positive(self.sigma):
            raise ValueError(
                f"sigma must be a positive number of pixels or None; got {self.sigma!r}"
            )
        for name in ("reward_weight", "area_weight", "smoothness_weight", "momentum", "dampening"):
            if not _non_negative(getattr(self, name)):
                raise ValueError(
                    f"{name} must be a non-negative number; got {getattr(self, name)!r}"
                )
        if not _positive(self.area_growth):
            raise ValueError(f"area_growth must be a positive factor; got {self.area_growth!r}")
        if len(self.smoothness_kernel) != 3 or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.smoothness_kernel
        ):
            raise ValueError(
                f"smoothness_kernel must be 3 positive ints (kt, kh, kw); got {self.smoothness_kernel!r}"
            )

    def replace(self, **changes: Any) -> PerturbationSettings:
        """A copy with some settings changed (``None`` values are ignored)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown perturbation settings {unknown}; known: {sorted(known)}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def fast(
        self, iterations: int = 400, lr: float = 0.03, optimizer: OptimizerName = "adam"
    ) -> PerturbationSettings:
        """The faster option: a schedule compressed into ``iterations`` steps, Adam by default.

        ``max_iter`` becomes ``iterations``; ``area_growth`` is raised to the power
        ``max_iter / iterations`` and ``smoothness_start`` scaled by ``iterations / max_iter`` so that
        the weights end the run at the same values as the reference schedule; ``optimizer`` (default
        ``"adam"``) and ``lr`` (default 0.03) replace the optimiser settings. Everything else is kept.

        ``benchmarks/perturbation.py`` measures it: for 3D-EP, Adam reaches the reference's final
        energy in 100 iterations instead of 2000 with close masks; for STEP, Adam finds much lower
        energies but other masks, while ``fast(400, lr=0.05, optimizer="sgd")`` (the paper's optimiser
        with the compressed schedule) ends below the reference energy with the closest masks.

        Example:
            >>> s = PerturbationSettings(max_iter=2000, area_growth=1.0008668, smoothness_start=101)
            >>> f = s.fast(400)
            >>> f.optimizer, f.max_iter, f.smoothness_start, round(f.area_growth ** 400, 2)
            ('adam', 400, 20, 5.66)
        """
        check_positive_int(iterations, "iterations")
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        ratio = self.max_iter / iterations
        return replace(
            self,
            optimizer=optimizer,
            lr=lr,
            max_iter=iterations,
            area_growth=self.area_growth**ratio,
            smoothness_start=max(1, round(self.smoothness_start / ratio)),
        )

    def sigma_for(self, height: int, width: int) -> float:
        """The bump radius used for ``(H, W)`` frames."""
        return (
            float(self.sigma) if self.sigma is not None else default_sigma(height, width, self.step)
        )

    def min_clip_size(self, height: int, width: int) -> tuple[int, int, int]:
        """Smallest ``(T, H, W)`` the smoothness kernel fits (``(1, 1, 1)`` without smoothness term)."""
        if self.smoothness_weight == 0:
            return (1, 1, 1)
        kt, kh, kw = self.smoothness_kernel
        sigma = self.sigma_for(height, width)
        min_h = next(
            h
            for h in range(1, kh + 1)
            if MaskGenerator((h, 1), self.step, sigma).padded_shape[0] >= kh
        )
        min_w = next(
            w
            for w in range(1, kw + 1)
            if MaskGenerator((1, w), self.step, sigma).padded_shape[1] >= kw
        )
        return (kt, min_h, min_w)


def _positive(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _non_negative(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


@dataclass(frozen=True)
class PerturbationHistory:
    """Per-iteration record of an optimisation, every field ``(B, A, I)`` for ``I`` iterations run.

    Attributes:
        reward: weighted reward.
        area: weighted area term.
        smoothness: weighted smoothness term (zeros without one).
        energy: their sum, the quantity minimised.
        probability: target probability of the perturbed clip (the preserved clip; the deleted clip for
            ``variant="delete"``).
    """

    reward: Tensor
    area: Tensor
    smoothness: Tensor
    energy: Tensor
    probability: Tensor

    @property
    def num_iterations(self) -> int:
        """Number of iterations recorded."""
        return int(self.energy.shape[-1])


@dataclass(frozen=True)
class PerturbationResult:
    """Everything an extremal perturbation call computed.

    Attributes:
        masks: ``(B, A, T, H, W)`` masks in ``[0, 1]`` (1 keeps a pixel), detached, on the input's device.
        areas: the ``A`` requested areas.
        target: ``(B,)`` class indices explained, or ``None`` for a callable target.
        history: the per-iteration [`PerturbationHistory`][videoattr.methods.extremal.optimize.PerturbationHistory].
        achieved_area: ``(B, A)`` mean of the padded mask volume, the quantity the area term drives to
            ``a`` (the mask is near 0 in the margin, so the crop's own mean is larger).
        frame_area: ``(B, A, T)`` mean of each frame's padded mask (2D-EP keeps every frame at ``a``).
        mask_area: ``(B, A)`` mean of the returned ``(T, H, W)`` masks.
        preserved_probability: ``(B, A)`` target probability of the clip perturbed with the final mask.
        deleted_probability: ``(B, A)`` target probability of the clip perturbed with ``1 - mask``.
        iterations: number of iterations run (fewer than ``max_iter`` after an early stop).
        settings: the settings used.
    """

    masks: Tensor
    areas: tuple[float, ...]
    target: Tensor | None
    history: PerturbationHistory
    achieved_area: Tensor
    frame_area: Tensor
    mask_area: Tensor
    preserved_probability: Tensor
    deleted_probability: Tensor
    iterations: int
    settings: PerturbationSettings = field(repr=False)

    @property
    def final_energy(self) -> Tensor:
        """``(B, A)`` energy of the last iteration."""
        return self.history.energy[..., -1]


Forward = Callable[[Tensor], Tensor]


def _make_optimizer(params: Tensor, settings: PerturbationSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam([params], lr=settings.lr, betas=settings.betas)
    return torch.optim.SGD(
        [params], lr=settings.lr, momentum=settings.momentum, dampening=settings.dampening
    )


class _EarlyStop:
    """Stops when no row improved its best energy by ``tol`` (relative) within ``patience`` iterations."""

    def __init__(self, patience: int | None, tol: float) -> None:
        self.patience = patience
        self.tol = tol
        self.best: Tensor | None = None
        self.since = 0

    def update(self, energy: Tensor) -> bool:
        if self.patience is None:
            return False
        energy = energy.detach()
        if self.best is None:
            self.best = energy.clone()
            return False
        improved = energy < self.best - self.tol * self.best.abs()
        self.best = torch.minimum(self.best, energy)
        if bool(improved.any()):
            self.since = 0
        else:
            self.since += 1
        return self.since >= self.patience


def optimize_masks(
    forward: Forward,
    x: Tensor,
    target: ResolvedTarget,
    areas: Sequence[float],
    settings: PerturbationSettings,
    *,
    max_batch_size: int | None = None,
    description: str = "extremal perturbation",
) -> PerturbationResult:
    """Optimise one mask per clip and area.

    Args:
        forward: the model, ``(N, C, T, H, W) -> (N, K)`` logits (differentiable in its input).
        x: clips ``(B, C, T, H, W)``.
        target: target resolved against the clean logits (class indices or a callable).
        areas: the ``A`` areas in ``(0, 1)``.
        settings: the engine's settings.
        max_batch_size: the most model rows in one forward (``None``: all ``B A`` rows, twice that for
            ``"dual"``); larger batches are split with gradient accumulation.
        description: label of the progress bar.

    Returns:
        The [`PerturbationResult`][videoattr.methods.extremal.optimize.PerturbationResult] (masks ``(B, A, T, H, W)``).
    """
    device = x.device
    b, _, t, h, w = x.shape
    num_areas = len(areas)
    n = b * num_areas
    # Row r = clip * A + area.
    clip_index = torch.arange(b, device=device).repeat_interleave(num_areas)
    area_index = torch.arange(num_areas, device=device).repeat(b)
    sigma = settings.sigma_for(h, w)

    perturbation = Perturbation(x, settings.num_levels, settings.max_blur, settings.perturbation)
    generator = MaskGenerator(
        (h, w), settings.step, sigma, coldness=settings.coldness, device=device
    )
    area_term = AreaTerm(areas, t, generator.padded_shape, settings.area_mode, device)
    smooth_term = (
        SmoothnessTerm(
            areas,
            t,
            generator.padded_shape,
            settings.smoothness_kernel,
            settings.smoothness_stride,
            device,
        )
        if settings.smoothness_weight > 0
        else None
    )
    params = generator.init_params(n, t, device=device).requires_grad_(True)
    optimizer = _make_optimizer(params, settings)
    tie_rng = (
        torch.Generator().manual_seed(settings.seed) if settings.tie_break == "random" else None
    )
    stable = settings.tie_break == "stable"

    rows = rows_per_mask(settings.variant)
    per_chunk = None if max_batch_size is None else max(1, max_batch_size // rows)
    records: dict[str, list[Tensor]] = {
        k: [] for k in ("reward", "area", "smoothness", "probability")
    }
    masks = torch.empty(n, t, h, w, device=device)
    frame_area = torch.empty(n, t, device=device)
    stopper = _EarlyStop(settings.early_stop, settings.early_stop_tol)
    area_weight = settings.area_weight
    bar = tqdm(
        range(settings.max_iter), desc=description, disable=not settings.progress, leave=False
    )
    iterations = 0
    try:
        for it in bar:
            smooth_weight = settings.smoothness_weight if it >= settings.smoothness_start else 0.0
            area_perm = smooth_perm = None
            if tie_rng is not None:
                area_perm = torch.randperm(area_term.size, generator=tie_rng).to(device)
                if smooth_term is not None:
                    smooth_perm = torch.randperm(smooth_term.num_responses, generator=tie_rng).to(
                        device
                    )
            optimizer.zero_grad(set_to_none=False)
            step_terms: dict[str, list[Tensor]] = {k: [] for k in records}
            for chunk in chunk_slices(n, per_chunk):
                mask, padded = generator.generate(params[chunk])
                ci, ai = clip_index[chunk], area_index[chunk]
                if settings.variant == "preserve":
                    inputs = perturbation.apply(mask, ci)
                elif settings.variant == "delete":
                    inputs = perturbation.apply(1 - mask, ci)
                else:
                    inputs = torch.cat(
                        [perturbation.apply(mask, ci), perturbation.apply(1 - mask, ci)]
                    )
                logits = forward(inputs)
                r, prob = reward(logits, target, ci, settings.variant)
                r = settings.reward_weight * r
                a = area_weight * area_term(padded, ai, area_perm, stable)
                energy = r + a
                if smooth_term is not None:
                    s = smooth_weight * smooth_term(padded, ai, smooth_perm, stable)
                    energy = energy + s
                else:
                    s = torch.zeros_like(a)
                require_grad_path(logits, "model")
                torch.autograd.backward(energy.sum())
                masks[chunk] = mask.detach()
                frame_area[chunk] = padded.detach().mean(dim=(2, 3))
                for key, value in zip(
                    ("reward", "area", "smoothness", "probability"), (r, a, s, prob), strict=True
                ):
                    step_terms[key].append(value.detach())
            optimizer.step()
            with torch.no_grad():
                params.clamp_(0, 1)
            area_weight *= settings.area_growth
            for key, values in step_terms.items():
                records[key].append(torch.cat(values))
            iterations = it + 1
            if settings.progress and (it % 25 == 0 or it == settings.max_iter - 1):
                total = records["reward"][-1] + records["area"][-1] + records["smoothness"][-1]
                bar.set_postfix(energy=f"{float(total.mean()):.4g}")
            if settings.early_stop is not None:
                total = records["reward"][-1] + records["area"][-1] + records["smoothness"][-1]
                if stopper.update(total):
                    break
    finally:
        bar.close()

    def stacked(key: str) -> Tensor:
        return torch.stack(records[key], dim=-1).view(b, num_areas, iterations)

    history = PerturbationHistory(
        reward=stacked("reward"),
        area=stacked("area"),
        smoothness=stacked("smoothness"),
        energy=stacked("reward") + stacked("area") + stacked("smoothness"),
        probability=stacked("probability"),
    )
    preserved, deleted = _final_probabilities(
        forward, perturbation, masks, target, clip_index, max_batch_size
    )
    return PerturbationResult(
        masks=masks.view(b, num_areas, t, h, w),
        areas=tuple(float(a) for a in areas),
        target=target.indices,
        history=history,
        achieved_area=frame_area.view(b, num_areas, t).mean(dim=2),
        frame_area=frame_area.view(b, num_areas, t),
        mask_area=masks.view(b, num_areas, -1).mean(dim=2),
        preserved_probability=preserved.view(b, num_areas),
        deleted_probability=deleted.view(b, num_areas),
        iterations=iterations,
        settings=settings,
    )


def _final_probabilities(
    forward: Forward,
    perturbation: Perturbation,
    masks: Tensor,
    target: ResolvedTarget,
    clip_index: Tensor,
    max_batch_size: int | None,
) -> tuple[Tensor, Tensor]:
    """Target probability of the clips perturbed with ``masks`` and with ``1 - masks`` (no graph)."""
    preserved, deleted = [], []
    with torch.no_grad():
        for chunk in chunk_slices(masks.shape[0], max_batch_size):
            ci = clip_index[chunk]
            preserved.append(
                target.log_prob(forward(perturbation.apply(masks[chunk], ci)), ci).exp()
            )
            deleted.append(
                target.log_prob(forward(perturbation.apply(1 - masks[chunk], ci)), ci).exp()
            )
    return torch.cat(preserved), torch.cat(deleted)
