"""Settings of the extremal perturbation engine: one frozen record, with the paper's defaults.

A run's weights follow a schedule. The reference implementation (Li et al., WACV 2021) states STEP's
schedule per iteration of a 2000-iteration run: the area weight ``lambda`` grows by x1.0008668 after every
iteration and the smoothness term acts from iteration 101. By default (``schedule="run"``) these constants
are defined over the run instead, so a run of ``n`` iterations is the same method, only shorter: the
smoothness term starts after the same fraction of the run (``101 / 2000``) and ``lambda`` grows by the same
total factor (``1.0008668 ** 2000``, x5.66). At ``n = 2000`` both schedules are identical;
``schedule="per_iteration"`` applies the constants as stated whatever ``n`` is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import torch

from videoattr.core.pyramid import PERTURBATION_KINDS, PerturbationKind
from videoattr.core.validation import check_choice, check_positive_int
from videoattr.methods.extremal.masks import MaskGenerator, covering_sigma
from videoattr.methods.extremal.objectives import AREA_MODES, VARIANTS, AreaMode, Variant
from videoattr.methods.extremal.ranking import TIE_BREAKS, TieBreak

OptimizerName = Literal["sgd", "adam"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
Schedule = Literal["run", "per_iteration"]
SCHEDULES: tuple[str, ...] = ("run", "per_iteration")
GeneratorKind = Literal["fused", "native", "pytorch", "reference"]
GENERATORS: tuple[str, ...] = ("fused", "native", "pytorch", "reference")
WarmStart = Literal["none", "gradient"]
WARM_STARTS: tuple[str, ...] = ("none", "gradient")
Preset = Literal["paper", "fast", "reference"]
PRESETS: tuple[str, ...] = ("paper", "fast", "reference")

#: The paper's per-iteration growth of STEP's area weight (doubles every 800 iterations).
STEP_AREA_GROWTH = 1.0008668
#: Length of the run over which the reference implementation's per-iteration schedule is stated.
PAPER_ITERATIONS = 2000
#: Iterations of the ``"fast"`` preset (see [`PerturbationSettings.fast`][videoattr.methods.extremal.settings.PerturbationSettings.fast]).
FAST_ITERATIONS = 20
#: Adam's learning rate in the ``"fast"`` preset.
FAST_LR = 0.2
#: How the ``"fast"`` preset starts its mask parameters (see ``warm_start``).
FAST_WARM_START: WarmStart = "gradient"
#: The ``"fast"`` preset's smallest reward weight: STEP's 1 becomes 8, the EP methods' 100 is kept.
FAST_MIN_REWARD_WEIGHT = 8.0


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
        sigma: bump radius in pixels; ``None`` scales it with the input ([`default_sigma`][videoattr.methods.extremal.settings.default_sigma]: 11 at 112,
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
        schedule: ``"run"`` (default: ``area_growth`` and ``smoothness_start`` are the per-iteration
            constants of a ``schedule_length``-iteration run, rescaled to ``max_iter`` so that the weights
            follow the same course over any run length) or ``"per_iteration"`` (the constants applied as
            they are, as the reference implementation does).
        schedule_length: the run length the per-iteration constants are stated for. Default 2000.
        generator: ``"fused"`` (default: the mask generator's soft-max pooling as one function with a
            hand-written backward, run, like the perturbation's pyramid blend, by the native loops of
            [`native`][videoattr.core.native] on the CPU where they can be built and by
            PyTorch operations otherwise), ``"native"`` (the native pooling or an error saying why not),
            ``"pytorch"`` (PyTorch operations only) or ``"reference"`` (the reference implementation's
            composition of unfold, upsampling and soft-max, for bit-level reproduction of its numbers).
            One evaluation of any of them gives the same masks up to float rounding, but a run does
            not: the rank-based area and smoothness terms order values that are equal in exact
            arithmetic by their rounding, and the optimisation follows another path to an optimum of
            about the same energy (on the 3D-EP reference test case, masks 0.011 apart on average
            and up to 0.83 at single pixels; see the paper-settings page of the docs).
            ``preset="reference"`` reproduces the reference implementation's masks.
        early_stop: patience in iterations: stop when no row's energy has improved by more than
            ``early_stop_tol`` (relative) over the last ``early_stop`` iterations; ``None`` runs all
            iterations. With a growing ``lambda`` (STEP) the energy rises with the schedule; a stop before
            the schedule has run its course is recorded (``PerturbationResult.stopped_early``) and warned
            about. Default ``None``.
        early_stop_tol: relative improvement that counts. Default 1e-4.
        warm_start: how the mask parameters start: ``"none"`` (all ones, the reference
            initialisation) or ``"gradient"`` (from the clip's gradient map, one extra forward and
            backward per clip: every parameter cell gets the mean ``|d log p / d x|`` over its
            ``step x step`` pixels, and the cells above the ``1 - a`` quantile of each mask's
            volume (of each frame for ``area_mode="frame"``) start at 1, the others at their value
            divided by that quantile). Default ``"none"``.
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
    schedule: Schedule = "run"
    schedule_length: int = PAPER_ITERATIONS
    generator: GeneratorKind = "fused"
    early_stop: int | None = None
    early_stop_tol: float = 1e-4
    warm_start: WarmStart = "none"
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice(self.area_mode, "area_mode", AREA_MODES)
        check_choice(self.variant, "variant", VARIANTS)
        check_choice(self.perturbation, "perturbation", PERTURBATION_KINDS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.tie_break, "tie_break", TIE_BREAKS)
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_choice(self.generator, "generator", GENERATORS)
        check_choice(self.warm_start, "warm_start", WARM_STARTS)
        check_positive_int(self.schedule_length, "schedule_length")
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
        """A copy with some settings changed, validated like a new record.

        ``None`` is a value like any other: ``replace(early_stop=None)`` turns early stopping off.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown perturbation settings {unknown}; known: {sorted(known)}")
        return replace(self, **changes)

    def fast(
        self,
        iterations: int = FAST_ITERATIONS,
        lr: float = FAST_LR,
        optimizer: OptimizerName = "adam",
        warm_start: WarmStart = FAST_WARM_START,
        min_reward_weight: float = FAST_MIN_REWARD_WEIGHT,
    ) -> PerturbationSettings:
        """The ``"fast"`` preset: the paper's terms and schedule over a short, warm-started run.

        ``max_iter`` becomes ``iterations`` and the schedule is defined over the run
        (``schedule="run"``), so the weights follow the paper's course from start to end;
        ``optimizer`` and ``lr`` replace the optimiser settings, the mask parameters start from the
        clip's gradient map (``warm_start="gradient"``, one extra forward and backward per clip) and
        the reward weight is raised to at least ``min_reward_weight``. Everything else is kept.

        The reward weight is the one change to the energy: STEP weighs the reward 1 against an area
        weight of 300 that grows 5.66x over the run. Over 2000 iterations the target's probability
        keeps pace with that growth; over 20 it does not (it ends about 0.1 lower) unless the reward
        weighs more. At 8 it keeps the paper run's probability, mass in the ground truth and
        area; the extremal perturbation methods' 100 is left as it is. ``min_reward_weight=0`` keeps
        any method's own weight.

        The defaults, 20 Adam iterations with lr 0.2 from the gradient map's start and a reward
        weight of at least 8, come from the ``presets`` section of ``benchmarks/perturbation.py``:
        on held-out ``SyntheticMotion`` clips they keep the target's probability, the mask's mass in
        the ground truth and its share in the evidence frames within the bootstrap error of the
        paper's 2000-iteration run, for STEP and 3D-EP (the docs' paper-settings page has the
        tables). Earlier fast presets: ``fast(30, min_reward_weight=0)`` and
        ``fast(200, lr=0.05, warm_start="none", min_reward_weight=0)``.

        Example:
            >>> s = PerturbationSettings(
            ...     area_growth=1.0008668, smoothness_start=101, reward_weight=1.0
            ... )
            >>> f = s.fast()
            >>> f.optimizer, f.max_iter, f.lr, f.warm_start, f.schedule, f.reward_weight
            ('adam', 20, 0.2, 'gradient', 'run', 8.0)
            >>> f.effective_smoothness_start, round(f.effective_area_growth ** 20, 2)
            (1, 5.66)
            >>> PerturbationSettings().fast().reward_weight  # the EP methods keep theirs
            100.0
        """
        check_positive_int(iterations, "iterations")
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        check_choice(warm_start, "warm_start", WARM_STARTS)
        if not _non_negative(min_reward_weight):
            raise ValueError(
                f"min_reward_weight must be a non-negative number; got {min_reward_weight!r}"
            )
        return replace(
            self,
            optimizer=optimizer,
            lr=lr,
            max_iter=iterations,
            schedule="run",
            warm_start=warm_start,
            reward_weight=max(float(self.reward_weight), float(min_reward_weight)),
        )

    def reference(self) -> PerturbationSettings:
        """The ``"reference"`` preset: these settings with the reference implementation's arithmetic.

        Its mask generator (``generator="reference"``: unfold, nearest upsampling and soft-max as separate
        operations), its per-iteration schedule (``schedule="per_iteration"``) and its tie-break
        (``tie_break="sort"``, PyTorch's default sort) on the CPU reproduce its masks; the defaults
        reach an optimum of about the same energy whose masks can differ by much more than rounding
        (see ``generator``). Slower: the reference generator costs several times the fused one.

        Example:
            >>> r = PerturbationSettings().reference()
            >>> r.generator, r.schedule, r.tie_break
            ('reference', 'per_iteration', 'sort')
        """
        return replace(self, generator="reference", schedule="per_iteration", tie_break="sort")

    def preset(self, name: Preset) -> PerturbationSettings:
        """``"paper"`` (these settings), ``"fast"`` ([`fast`][videoattr.methods.extremal.settings.PerturbationSettings.fast]) or ``"reference"`` ([`reference`][videoattr.methods.extremal.settings.PerturbationSettings.reference])."""
        check_choice(name, "preset", PRESETS)
        if name == "fast":
            return self.fast()
        return self.reference() if name == "reference" else self

    @property
    def effective_area_growth(self) -> float:
        """Factor applied to ``lambda`` after each of the ``max_iter`` iterations of this run."""
        if self.schedule == "per_iteration":
            return float(self.area_growth)
        return float(float(self.area_growth) ** (self.schedule_length / self.max_iter))

    @property
    def effective_smoothness_start(self) -> int:
        """First iteration of this run at which the smoothness term acts."""
        if self.schedule == "per_iteration":
            return int(self.smoothness_start)
        return math.floor(self.smoothness_start * self.max_iter / self.schedule_length + 0.5)

    def term_weights(self) -> dict[str, torch.Tensor]:
        """The built-in mask terms' weights at every iteration, by name: ``(max_iter,)`` float64 each.

        ``"area"``: ``lambda``, growing by ``effective_area_growth`` after every iteration;
        ``"smoothness"``: ``smoothness_weight`` from ``effective_smoothness_start`` on, 0 before.

        Example:
            >>> w = PerturbationSettings(
            ...     max_iter=60, area_growth=1.0008668, smoothness_weight=300.0
            ... ).term_weights()
            >>> int((w["smoothness"] > 0).nonzero()[0]), round(float(w["area"][-1] / w["area"][0]), 2)
            (3, 5.5)
        """
        growth = self.effective_area_growth
        area, weight = [], float(self.area_weight)
        for _ in range(self.max_iter):  # the reference multiplies iteration by iteration
            area.append(weight)
            weight *= growth
        start = self.effective_smoothness_start
        smooth = [
            float(self.smoothness_weight) if i >= start else 0.0 for i in range(self.max_iter)
        ]
        return {
            "area": torch.tensor(area, dtype=torch.float64),
            "smoothness": torch.tensor(smooth, dtype=torch.float64),
        }

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(area_weight, smoothness_weight)`` of every iteration (see [`term_weights`][videoattr.methods.extremal.settings.PerturbationSettings.term_weights]).

        Example:
            >>> area, smooth = PerturbationSettings(
            ...     max_iter=60, area_growth=1.0008668, smoothness_weight=300.0
            ... ).weights()
            >>> int((smooth > 0).nonzero()[0]), round(float(area[-1] / area[0]), 2)
            (3, 5.5)
        """
        weights = self.term_weights()
        return weights["area"], weights["smoothness"]

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
