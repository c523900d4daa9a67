"""The optimisation loop of the extremal perturbation engine.

One loop serves 2D-EP, 3D-EP and STEP; a frozen
[`PerturbationSettings`][videoattr.methods.extremal.settings.PerturbationSettings] says which. Every clip x
area x target of a call is one row of a single batch: each iteration generates all masks, lets the
variant ([`VariantRule`][videoattr.methods.extremal.objectives.VariantRule]) perturb the clips and score
the model's answer, runs the model once on the whole batch (or on chunks of at most ``max_batch_size``
rows, accumulating gradients), adds the weighted mask terms
([`MaskTerm`][videoattr.methods.extremal.objectives.MaskTerm]: area, smoothness), and takes one optimiser
step on all mask parameters. Rows do not interact: in float64 the answer does not depend on how the
batch is split (in float32, other chunk sizes pick other kernels, whose rounding the optimisation
amplifies).

Iteration ``t`` (counted from 0) evaluates the energy of the masks generated from the current parameters
with the weights of the settings' schedule at ``t``
([`PerturbationSettings.weights`][videoattr.methods.extremal.settings.PerturbationSettings.weights]),
records the weighted terms and the weights in the history, steps, and clamps the parameters to
``[0, 1]``. The masks returned are those generated at the start of the last iteration. The mask terms,
their weights and their records are one mapping from name to term
([`energy`][videoattr.methods.extremal.energy]): a new energy term is one entry in
[`MASK_TERMS`][videoattr.methods.extremal.energy.MASK_TERMS], and appears in the energy, the history
and early stopping.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor
from torch.profiler import record_function

from videoattr.core.batching import chunk_slices, score_all
from videoattr.core.model_checks import require_grad_path
from videoattr.core.phases import phase
from videoattr.core.progress import progress_bar, show_value
from videoattr.core.pyramid import Perturbation
from videoattr.core.targets import ResolvedTarget
from videoattr.methods.extremal.energy import TermSetup, build_terms
from videoattr.methods.extremal.masks import MaskGenerator, PoolKernel
from videoattr.methods.extremal.objectives import VariantRule
from videoattr.methods.extremal.ranking import TIE_BREAKS, TieBreak
from videoattr.methods.extremal.settings import (
    OPTIMIZERS,
    STEP_AREA_GROWTH,
    OptimizerName,
    PerturbationSettings,
    default_sigma,
)
from videoattr.methods.extremal.warm_start import gradient_map, warm_params

__all__ = [
    "OPTIMIZERS",
    "STEP_AREA_GROWTH",
    "TIE_BREAKS",
    "OptimizerName",
    "PerturbationHistory",
    "PerturbationResult",
    "PerturbationSettings",
    "TieBreak",
    "default_sigma",
    "optimize_masks",
]


@dataclass(frozen=True)
class PerturbationHistory:
    """Per-iteration record of an optimisation: every term of the energy under its name.

    Attributes:
        terms: the weighted terms, each ``(B, A, I)`` for ``I`` iterations run: ``"reward"`` first, then
            every mask term of the call in the order of
            [`MASK_TERMS`][videoattr.methods.extremal.energy.MASK_TERMS] (``"area"``, and
            ``"smoothness"`` for STEP).
        weights: ``(I,)`` the weight applied to each mask term at every iteration, by name.
        probability: ``(B, A, I)`` target probability of the perturbed clip (the preserved clip; the
            deleted clip for ``variant="delete"``).
    """

    terms: Mapping[str, Tensor]
    weights: Mapping[str, Tensor]
    probability: Tensor

    def __repr__(self) -> str:
        return (
            f"PerturbationHistory(iterations={self.num_iterations}, rows={tuple(self.energy.shape[:-1])}, "
            f"terms={list(self.terms)}, final_energy_mean={float(self.energy[..., -1].mean()):.4g})"
        )

    @property
    def energy(self) -> Tensor:
        """``(B, A, I)`` the energy minimised: the sum of the weighted terms."""
        return _sum(self.terms.values())

    @property
    def reward(self) -> Tensor:
        """``(B, A, I)`` the weighted reward."""
        return self.terms["reward"]

    @property
    def area(self) -> Tensor:
        """``(B, A, I)`` the weighted area term."""
        return self.terms["area"]

    @property
    def smoothness(self) -> Tensor:
        """``(B, A, I)`` the weighted smoothness term (zeros without one)."""
        return self.terms.get("smoothness", torch.zeros_like(self.reward))

    @property
    def area_weight(self) -> Tensor:
        """``(I,)`` the area weight ``lambda`` applied at every iteration."""
        return self.weights["area"]

    @property
    def smoothness_weight(self) -> Tensor:
        """``(I,)`` the smoothness weight at every iteration (0 before the term starts, and without one)."""
        return self.weights.get("smoothness", torch.zeros_like(self.area_weight))

    @property
    def num_iterations(self) -> int:
        """Number of iterations recorded."""
        return int(self.probability.shape[-1])


def _sum(values: Iterable[Tensor]) -> Tensor:
    """The sum of the terms, added in order (the energy's own order of additions)."""
    total: Tensor | None = None
    for value in values:
        total = value if total is None else total + value
    assert total is not None
    return total


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
        stopped_early: whether early stopping ended the run before ``max_iter``.
        settings: the settings used.
        pool_kernel: what pooled the masks: ``"native"`` (the compiled kernel), ``"pytorch"`` or
            ``"reference"`` (see the ``generator`` setting).
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
    stopped_early: bool
    settings: PerturbationSettings = field(repr=False)
    pool_kernel: str | None = None

    @property
    def final_energy(self) -> Tensor:
        """``(B, A)`` energy of the last iteration."""
        return self.history.energy[..., -1]

    def __repr__(self) -> str:
        pres = ", ".join(f"{v:.3f}" for v in self.preserved_probability.flatten()[:6].tolist())
        more = ", ..." if self.preserved_probability.numel() > 6 else ""
        return (
            f"PerturbationResult(masks={tuple(self.masks.shape)}, areas={self.areas}, "
            f"iterations={self.iterations}{' (stopped early)' if self.stopped_early else ''}, "
            f"preserved_probability=[{pres}{more}])"
        )


Forward = Callable[[Tensor], Tensor]

#: The mask generator's and the blend's ``kernel`` for each ``generator`` setting that names one.
_POOL_KERNEL: dict[str, PoolKernel] = {"native": "native", "pytorch": "pytorch"}


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
    clips: tuple[Tensor, Tensor] | None = None,
) -> PerturbationResult:
    """Optimise one mask per clip and area.

    Args:
        forward: the model, ``(N, C, T, H, W) -> (N, K)`` logits (differentiable in its input).
        x: clips ``(B, C, T, H, W)`` (one row per clip and target: see ``clips``).
        target: target resolved against the clean logits (class indices or a callable).
        areas: the ``A`` areas in ``(0, 1)``.
        settings: the engine's settings.
        max_batch_size: the most model rows in one forward (``None``: all ``B A`` rows, twice that for
            ``"dual"``); larger batches are split with gradient accumulation.
        description: label of the progress bar.
        clips: ``(distinct, clip_of_row)`` when rows of ``x`` repeat clips (several targets per
            clip): the ``(B', C, T, H, W)`` distinct clips and the ``(B,)`` one each row of ``x``
            is; the pyramid is built of the distinct clips only. Default ``None`` (every row its own
            clip).

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

    kernel = _POOL_KERNEL.get(settings.generator, "auto")
    # the pyramid's clip of every row: rows that repeat a clip share its levels
    pyramid_index = clip_index if clips is None else clips[1].to(device)[clip_index]
    with phase("extremal.pyramid", device):
        perturbation = Perturbation(
            x if clips is None else clips[0].detach(),
            settings.num_levels,
            settings.max_blur,
            settings.perturbation,
            # the blend's native loop wherever it applies, unless PyTorch operations are asked for
            kernel="pytorch" if settings.generator in ("pytorch", "reference") else "auto",
        )
    with phase("extremal.setup", device):
        generator = MaskGenerator(
            (h, w),
            settings.step,
            sigma,
            coldness=settings.coldness,
            fused=settings.generator != "reference",
            kernel=kernel,
            device=device,
        )
        terms = build_terms(settings, TermSetup(areas, t, generator.padded_shape, device))
        rule = VariantRule(settings.variant)
        params = generator.init_params(n, t, device=device)
    if settings.warm_start == "gradient":
        with phase("extremal.warm_start", device):
            warm = warm_params(
                gradient_map(forward, x, target, max_batch_size),
                generator.grid_shape,
                areas,
                clip_index,
                area_index,
                per_frame=settings.area_mode == "frame",
            )
            params.copy_(warm)
    params.requires_grad_(True)
    optimizer = _make_optimizer(params, settings)
    tie_rng = (
        torch.Generator().manual_seed(settings.seed) if settings.tie_break == "random" else None
    )

    per_chunk = None if max_batch_size is None else max(1, max_batch_size // rule.rows)
    # One list per term (the reward first), and the target probability: per iteration, (n,) each.
    records: dict[str, list[Tensor]] = {name: [] for name in ("reward", *terms)}
    probabilities: list[Tensor] = []
    # The masks of the current iteration, chunk by chunk (references, not copies): what the last
    # iteration generated is returned.
    last: list[tuple[Tensor, Tensor]] = []
    # The target probabilities of the clips the model saw in the current iteration, chunk by chunk:
    # those of the last iteration are the returned masks' (no final forward needed for them).
    seen: dict[str, list[Tensor]] = {}
    stopper = _EarlyStop(settings.early_stop, settings.early_stop_tol)
    stopped_early = False
    bar = progress_bar(settings.max_iter, description, unit="it", enabled=settings.progress)
    iterations = 0
    with phase("extremal.iterations", device), bar:
        for it in range(settings.max_iter):
            perms = {
                name: None
                if tie_rng is None
                else torch.randperm(w.term.num_values, generator=tie_rng).to(device)
                for name, w in terms.items()
            }
            optimizer.zero_grad(set_to_none=False)
            step_terms: dict[str, list[Tensor]] = {name: [] for name in records}
            step_probabilities: list[Tensor] = []
            last = []
            seen = {}
            for chunk in chunk_slices(n, per_chunk):
                ci, ai = clip_index[chunk], area_index[chunk]
                with record_function("videoattr.extremal.masks"):
                    mask, padded = generator.generate(params[chunk])
                with record_function("videoattr.extremal.perturb"):
                    inputs = rule.inputs(perturbation, mask, pyramid_index[chunk])
                with record_function("videoattr.extremal.model"):
                    logits = forward(inputs)
                r, probs = rule.reward(logits, target, ci)
                values = {"reward": settings.reward_weight * r}
                for name, weighted in terms.items():
                    with record_function(f"videoattr.extremal.{name}"):
                        values[name] = float(weighted.weights[it]) * weighted.term(
                            padded, ai, perms[name], settings.tie_break
                        )
                energy = _sum(values.values())
                require_grad_path(logits, "model")
                with record_function("videoattr.extremal.backward"):
                    torch.autograd.backward(energy.sum())
                last.append((mask.detach(), padded.detach()))
                for name, value in values.items():
                    step_terms[name].append(value.detach())
                step_probabilities.append(probs[rule.scored])
                for name, p in probs.items():
                    seen.setdefault(name, []).append(p)
            with record_function("videoattr.extremal.step"):
                optimizer.step()
                with torch.no_grad():
                    params.clamp_(0, 1)
            for name, parts in step_terms.items():
                records[name].append(torch.cat(parts))
            probabilities.append(torch.cat(step_probabilities))
            iterations = it + 1
            total = _sum(parts[-1] for parts in records.values())
            show_value(bar, "energy", partial(_mean_value, total))
            bar.update(1)
            if stopper.update(total) and it + 1 < settings.max_iter:  # (no patience: never)
                stopped_early = True
                break

    def stacked(parts: list[Tensor]) -> Tensor:
        return torch.stack(parts, dim=-1).view(b, num_areas, iterations)

    masks = torch.cat([m for m, _ in last]).to(x.dtype)
    frame_area = torch.cat([p.mean(dim=(2, 3)) for _, p in last]).to(x.dtype)
    del last
    history = PerturbationHistory(
        terms={name: stacked(parts) for name, parts in records.items()},
        weights={name: w.weights[:iterations].to(device) for name, w in terms.items()},
        probability=stacked(probabilities),
    )
    if stopped_early:
        _warn_if_schedule_cut({name: w.weights for name, w in terms.items()}, iterations)
    with phase("extremal.final", device):
        preserved, deleted = _final_probabilities(
            forward,
            perturbation,
            masks,
            target,
            (clip_index, pyramid_index),
            max_batch_size,
            {name: torch.cat(parts) for name, parts in seen.items()},
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
        stopped_early=stopped_early,
        settings=settings,
        pool_kernel=generator.last_kernel,
    )


def _mean_value(values: Tensor) -> float:
    """The mean of ``values`` as a Python float (read only when a progress bar redraws)."""
    return float(values.mean())


def _warn_if_schedule_cut(weights: Mapping[str, Tensor], iterations: int) -> None:
    """Warn when early stopping ended a run whose terms' weights were still changing."""
    changing = {
        name: w for name, w in weights.items() if bool((w[iterations:] != w[iterations - 1]).any())
    }
    if changing:
        reached = ", ".join(
            f"the {name} weight {float(w[iterations - 1]):.4g} of the planned {float(w[-1]):.4g}"
            for name, w in changing.items()
        )
        total = next(iter(weights.values())).numel()
        warnings.warn(
            f"early stopping ended the run after {iterations} of {total} iterations, before its "
            f"schedule had run its course: it reached {reached}. The masks are those of a shorter "
            "schedule; pass early_stop=None to run it fully (result.stopped_early records this).",
            stacklevel=3,
        )


def _final_probabilities(
    forward: Forward,
    perturbation: Perturbation,
    masks: Tensor,
    target: ResolvedTarget,
    index: tuple[Tensor, Tensor],
    max_batch_size: int | None,
    known: Mapping[str, Tensor],
) -> tuple[Tensor, Tensor]:
    """Target probability of the clips perturbed with ``masks`` and with ``1 - masks`` (no graph).

    ``index`` is ``(clip_index, pyramid_index)``: every mask's row of the call (its target) and its
    clip in the pyramid. ``known`` holds the probabilities the last iteration computed for these
    masks (``"preserved"``, ``"deleted"``): only the others cost a forward.
    """
    clip_index, pyramid_index = index

    def probability(kept: Tensor) -> Tensor:
        def perturbed(chunk: slice) -> tuple[Tensor, Tensor]:
            return perturbation.apply(kept[chunk], pyramid_index[chunk]), clip_index[chunk]

        def score(logits: Tensor, ci: Tensor) -> Tensor:
            return target.log_prob(logits, ci).exp()

        return score_all(kept.shape[0], perturbed, lambda x, _ci: forward(x), score, max_batch_size)

    preserved = known["preserved"] if "preserved" in known else probability(masks)
    deleted = known["deleted"] if "deleted" in known else probability(1 - masks)
    return preserved, deleted
