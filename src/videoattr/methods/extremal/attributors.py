"""The three public extremal perturbation methods: configurations of one engine.

* [`ExtremalPerturbation2D`][videoattr.methods.extremal.attributors.ExtremalPerturbation2D] (2D-EP): every frame keeps area ``a`` (the area term is per frame).
* [`ExtremalPerturbation3D`][videoattr.methods.extremal.attributors.ExtremalPerturbation3D] (3D-EP): the clip keeps area ``a``, distributed freely over frames.
* [`STEP`][videoattr.methods.extremal.attributors.STEP]: 3D-EP plus a spatio-temporal smoothness term and a growing area weight (Li et al.,
  WACV 2021).

Each returns ``(B, A, T, H, W)`` masks in ``[0, 1]`` from [`attribute`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase.attribute], and
the full [`PerturbationResult`][videoattr.methods.extremal.optimize.PerturbationResult] (history, achieved areas,
probabilities) from [`explain`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase.explain].
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from videoattr.core.base import Attributor, Explanation, check_option_names
from videoattr.core.phases import phase
from videoattr.core.targets import Target, fold_targets
from videoattr.core.validation import check_areas, check_choice, describe
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.methods.extremal.optimize import PerturbationResult, optimize_masks
from videoattr.methods.extremal.settings import (
    PRESETS,
    STEP_AREA_GROWTH,
    PerturbationSettings,
    Preset,
)
from videoattr.methods.registry import register_method

Areas = float | Sequence[float] | Tensor


class ExtremalPerturbationBase(Attributor):
    """Extremal perturbation of video clips: the shared engine behind 2D-EP, 3D-EP and STEP.

    For each clip ``x_b`` and area ``a`` it finds a smooth mask ``m`` of area ``a`` such that the clip
    blurred outside ``m`` still scores the target (``variant="preserve"``). The mask comes from a coarse
    grid of parameters per frame (stride ``step``, bumps of radius ``sigma``), the clip is perturbed
    through a blur pyramid, and the energy ``reward_weight * (-log p) + lambda * area_term
    (+ smoothness_weight * smoothness_term)`` is minimised for all clips, areas and targets of a call in
    one batch per iteration. The maths is on the extremal-perturbation page of the docs.

    Presets: ``preset="paper"`` (default) is the reference implementation's configuration (SGD, 2000
    iterations); ``preset="fast"`` runs the same terms and schedule in 20 Adam iterations
    from the clip's gradient map, with a reward weight of at least 8 ([`fast`][videoattr.methods.extremal.settings.PerturbationSettings.fast]), chosen by measurement:
    ``benchmarks/perturbation.py`` compares its masks with the paper schedule's; ``preset="reference"``
    reproduces the reference implementation's masks (its mask generator, per-iteration schedule and
    tie-break: [`reference`][videoattr.methods.extremal.settings.PerturbationSettings.reference]), which
    the faster defaults do not: their rounding leads the optimisation to another optimum of about the
    same energy. Any setting given as a keyword argument overrides the preset. The schedule is defined over the run (``schedule="run"``), so
    a short run is the same method, only shorter.

    Settings: every field of
    [`PerturbationSettings`][videoattr.methods.extremal.settings.PerturbationSettings] is a keyword
    argument of the constructor (``max_iter=200``, ``lr=0.1``, ``early_stop=20``, ...), with the
    class's own default (`defaults`: the paper's settings, STEP's reward, area growth and smoothness
    weights for STEP) and the type and meaning documented there; a setting left out takes the
    preset's value. A complete ``settings`` object may be given instead, and keywords then override
    it. Like every option, each one can also be given to ``attribute``, ``explain`` and
    [`optimize`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase.optimize] for one call.

    Args:
        model: video classifier, ``(B, C, T, H, W) -> (B, K)`` logits, differentiable in its input.
        areas: one area or a sequence of ``A`` areas, each strictly inside ``(0, 1)``. Default 0.1.
        preset: ``"paper"`` (default), ``"fast"`` or ``"reference"``.
        max_batch_size: the most model rows in one forward; the ``B * K * A`` masks of a call
            (``2 B K A`` rows for ``variant="dual"``) are split into chunks with gradient accumulation.
            Default 2 (``videoattr.methods._memory.GRADIENT_BATCH``, as for the gradient methods:
            about 2.5 GB per forward and backward on ``r2plus1d_18`` at 16 x 112 x 112, plus the
            pyramid, 8 copies of the clips); ``None`` runs all rows at once (faster per clip on
            small models, where a batch costs little more than one row). In float64 the masks do not
            depend on it; in float32 other batch sizes pick other kernels, whose rounding moved the
            fast preset's masks by at most 6e-6 on the demo model (``benchmarks/perturbation.py``;
            the rank-based terms can amplify it over long runs, as for the ``generator`` setting).
        eval_mode: put the model in eval mode during the call. Default ``True``.
        settings: a full settings object (default: `defaults`); the keywords after it (the fields of
            [`PerturbationSettings`][videoattr.methods.extremal.settings.PerturbationSettings]:
            ``variant``, ``max_iter``, ``optimizer``, ``lr``, ``smoothness_weight``, ``early_stop``,
            ...) override it. ``None`` is a value, never "not set": ``early_stop=None`` runs every
            iteration and ``sigma=None`` scales the bumps with the input.

    Raises:
        TypeError: a keyword that is not an option (the message lists them).
        ValueError: a setting out of range (as ``PerturbationSettings`` checks it).

    Example:
        >>> import torch
        >>> from videoattr.demo_model import load_demo_model
        >>> step = STEP(load_demo_model(), areas=[0.05, 0.1], max_iter=3, progress=False)
        >>> step.attribute(torch.randn(2, 3, 8, 32, 32), target=1).shape
        torch.Size([2, 2, 8, 32, 32])
        >>> step.attribute(torch.randn(1, 3, 8, 32, 32), 1, areas=0.2, lr=0.1).shape  # one call
        torch.Size([1, 1, 8, 32, 32])
    """

    #: The method's default settings (the paper's reference configuration).
    defaults: ClassVar[PerturbationSettings] = PerturbationSettings()

    #: ``optimize`` takes per-call options too.
    per_call_methods: ClassVar[tuple[str, ...]] = ("attribute", "explain", "optimize")

    def __init__(
        self,
        model: nn.Module,
        *,
        areas: Areas = 0.1,
        preset: Preset = "paper",
        max_batch_size: int | None = GRADIENT_BATCH,
        eval_mode: bool = True,
        settings: PerturbationSettings | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        check_option_names(self, options)
        self.areas: tuple[float, ...] = tuple(check_areas(areas))
        check_choice(preset, "preset", PRESETS)
        self.preset: Preset = preset
        if settings is not None and not isinstance(settings, PerturbationSettings):
            raise TypeError(f"settings must be a PerturbationSettings; got {describe(settings)}")
        self._given: tuple[PerturbationSettings | None, dict[str, Any]] = (settings, options)
        base = self.defaults if settings is None else settings
        self.settings = base.preset(preset).replace(**options)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _signature(cls)  # type: ignore[attr-defined]

    def options(self) -> dict[str, Any]:
        """The areas, preset, batch bound, eval mode and every setting in force."""
        return {
            "areas": self.areas,
            "preset": self.preset,
            "max_batch_size": self.max_batch_size,
            "eval_mode": self.eval_mode,
            **{f.name: getattr(self.settings, f.name) for f in dataclasses.fields(self.settings)},
        }

    def init_options(self) -> dict[str, Any]:
        """The options as the constructor got them (a new ``preset`` then applies as it would there)."""
        settings, given = self._given
        return {
            "areas": self.areas,
            "preset": self.preset,
            "max_batch_size": self.max_batch_size,
            "eval_mode": self.eval_mode,
            "settings": settings,
            **given,
        }

    def attribute(self, x: Tensor, target: Target = None, **overrides: Any) -> Tensor:
        """Masks of the clips ``x`` for the ``target``, one per requested area.

        Args:
            x: clips ``(B, C, T, H, W)``.
            target: ``None`` (top class of each clean clip), an int, one int per clip, a ``(B,)`` tensor,
                a callable ``logits -> (N,)`` log-score, or several targets per clip (a ``(B, K)`` tensor
                of class indices, ``"top3"``).
            **overrides: any constructor option, for this call only (``areas=[0.05, 0.1]``,
                ``max_iter=50``, ``lr=0.1``, ...; see [`Attributor`][videoattr.core.base.Attributor]).

        Returns:
            ``(B, A, T, H, W)`` masks in ``[0, 1]`` (1 keeps a pixel), detached, on ``x``'s device;
            ``(B, K, A, T, H, W)`` for several targets per clip.
        """
        return self.optimize(x, target).masks

    def explain(self, x: Tensor, target: Target = None, **overrides: Any) -> Explanation:
        """Optimise the masks and report them with the model's answers and the optimisation's record.

        Args:
            x: clips ``(B, C, T, H, W)``.
            target: as in [`attribute`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase.attribute].
            **overrides: any constructor option, for this call only; the record (``config``) holds
                the options the call ran with.

        Returns:
            An [`Explanation`][videoattr.core.base.Explanation] whose ``maps`` are the masks and whose
            ``extras`` hold ``areas``, ``preserved_probability`` and ``deleted_probability``
            (``(B, A)``), ``achieved_area``, ``iterations``, ``stopped_early``, ``history`` and the full
            ``result`` ([`PerturbationResult`][videoattr.methods.extremal.optimize.PerturbationResult]).
        """
        result = self.optimize(x, target)
        return self.make_explanation(
            result.masks,
            target,
            self.clean_logits(x),
            extras={
                "areas": result.areas,
                "preserved_probability": result.preserved_probability,
                "deleted_probability": result.deleted_probability,
                "achieved_area": result.achieved_area,
                "iterations": result.iterations,
                "stopped_early": result.stopped_early,
                "history": result.history,
                "result": result,
            },
        )

    def optimize(self, x: Tensor, target: Target = None, **overrides: Any) -> PerturbationResult:
        """Optimise the masks and return everything the optimisation computed.

        Args:
            x: clips ``(B, C, T, H, W)``.
            target: as in [`attribute`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase.attribute].
            **overrides: any constructor option, for this call only (``areas``, ``max_iter``: the
                schedule follows the run, ``seed``, ``early_stop``, ``lr``, ...).

        Returns:
            A [`PerturbationResult`][videoattr.methods.extremal.optimize.PerturbationResult]: ``masks``
            ``(B, A, T, H, W)``, per-iteration ``history`` (reward, area, smoothness, energy, target
            probability, each ``(B, A, I)``, and the weights applied), ``achieved_area`` and the target
            probability of the preserved and deleted clips (``(B, A)``). With several targets per clip
            every per-row field gains a target axis after the batch axis.

        Raises:
            ValueError: an area outside ``(0, 1)``, a clip smaller than the smoothness kernel, a target
                index out of range, non-finite logits.
            TypeError: a malformed clip or target, a clip whose dtype differs from the model's.
            RuntimeError: the model's output does not depend differentiably on its input.
        """
        settings = self.settings
        with phase("extremal.call", _device_of(x)), self.session():
            x, resolved, multi = self.prepare_multi(x, target)
            self._check_size(x, settings)
            k = 1
            clips = None
            if multi is not None:
                rows, indices, k = multi
                # one pyramid of the clips for all their targets' rows
                clips = (x, torch.arange(x.shape[0], device=x.device).repeat_interleave(k))
                x, resolved = self.prepare(rows, indices)
            assert resolved is not None
            resolved = self.resolve_with_clean_logits(x, resolved)
            result = optimize_masks(
                self.forward,
                x.detach(),
                resolved,
                self.areas,
                settings,
                max_batch_size=self.max_batch_size,
                description=type(self).__name__,
                clips=clips,
            )
        return result if multi is None else _fold_result(result, k)

    @staticmethod
    def _check_size(x: Tensor, settings: PerturbationSettings) -> None:
        t, h, w = x.shape[2:]
        mt, mh, mw = settings.min_clip_size(h, w)
        if t < mt or h < mh or w < mw:
            raise ValueError(
                f"x is too small for the smoothness kernel {settings.smoothness_kernel} (frames, height, "
                f"width): (T, H, W) = {(t, h, w)}; it needs at least T >= {mt}, H >= {mh}, W >= {mw} "
                "(or a smaller smoothness_kernel)"
            )

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"{type(self).__name__}(model={type(self.model).__name__}, areas={self.areas}, "
            f"preset={self.preset!r}, variant={s.variant!r}, max_iter={s.max_iter}, "
            f"optimizer={s.optimizer!r}, max_batch_size={self.max_batch_size})"
        )


def _device_of(x: object) -> torch.device | None:
    """The device of a clip tensor (``None`` for anything else: the call's checks report it)."""
    return x.device if isinstance(x, Tensor) else None


def _signature(cls: type[ExtremalPerturbationBase]) -> inspect.Signature:
    """The constructor's signature with every setting as a keyword, at the class's own default."""
    own = list(inspect.signature(cls.__init__).parameters.values())[1:]  # without self
    fixed = [p for p in own if p.kind is not p.VAR_KEYWORD]
    settings = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=getattr(cls.defaults, f.name),
            annotation=f.type,
        )
        for f in dataclasses.fields(cls.defaults)
    ]
    return inspect.Signature([*fixed, *settings])


def _fold_result(result: PerturbationResult, k: int) -> PerturbationResult:
    """Give every per-row field of a result over ``B*K`` clips a target axis: ``(B, K, ...)``."""
    history = dataclasses.replace(
        result.history,
        terms={name: fold_targets(value, k) for name, value in result.history.terms.items()},
        probability=fold_targets(result.history.probability, k),
    )
    folded: dict[str, Any] = {
        f: fold_targets(getattr(result, f), k)
        for f in (
            "masks",
            "achieved_area",
            "frame_area",
            "mask_area",
            "preserved_probability",
            "deleted_probability",
        )
    }
    target = None if result.target is None else fold_targets(result.target, k)
    return dataclasses.replace(result, history=history, target=target, **folded)


class ExtremalPerturbation2D(ExtremalPerturbationBase):
    """2D-EP: extremal perturbation frame by frame, every frame keeping area ``a``.

    The area term sorts each frame's padded mask and averages over frames. Defaults: reward weight 100,
    ``lambda`` 300 (constant), SGD lr 0.05 with momentum/dampening 0.9, 2000 iterations. All arguments are
    those of [`ExtremalPerturbationBase`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase].
    """

    defaults: ClassVar[PerturbationSettings] = PerturbationSettings(area_mode="frame")


class ExtremalPerturbation3D(ExtremalPerturbationBase):
    """3D-EP: extremal perturbation of the whole clip, area ``a`` distributed freely over frames.

    The area term sorts the padded mask volume of the clip. Defaults as for
    [`ExtremalPerturbation2D`][videoattr.methods.extremal.attributors.ExtremalPerturbation2D]. All arguments are those of [`ExtremalPerturbationBase`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase].
    """

    defaults: ClassVar[PerturbationSettings] = PerturbationSettings(area_mode="clip")


class STEP(ExtremalPerturbationBase):
    """STEP: spatio-temporal extremal perturbation with a smoothness term (Li et al., WACV 2021).

    3D-EP with reward weight 1, ``lambda`` growing by x1.0008668 per iteration (doubling every 800), and
    a smoothness term (weight 300 from iteration 101) that favours a few compact spatio-temporal blobs:
    the padded mask volume is convolved with a 7-frame x 11 x 11 ellipsoid. Clips need at least as many
    frames as the kernel (7 by default). All arguments are those of [`ExtremalPerturbationBase`][videoattr.methods.extremal.attributors.ExtremalPerturbationBase].
    """

    defaults: ClassVar[PerturbationSettings] = PerturbationSettings(
        area_mode="clip", reward_weight=1.0, area_growth=STEP_AREA_GROWTH, smoothness_weight=300.0
    )


ExtremalPerturbationBase.__signature__ = _signature(ExtremalPerturbationBase)  # type: ignore[attr-defined]

register_method(
    "ep2d",
    ExtremalPerturbation2D,
    aliases=("2d_ep", "ExtremalPerturbation2D", "2d-ep", "ep_2d", "extremal_2d"),
    kind="perturbation",
    summary="extremal perturbation frame by frame: every frame keeps area a",
)
register_method(
    "ep3d",
    ExtremalPerturbation3D,
    aliases=("3d_ep", "ExtremalPerturbation3D", "3d-ep", "ep_3d", "extremal_3d"),
    kind="perturbation",
    summary="extremal perturbation of the whole clip: area a distributed over frames",
)
register_method(
    "step",
    STEP,
    aliases=("STEP", "spatio_temporal_extremal_perturbation"),
    kind="perturbation",
    summary="spatio-temporal extremal perturbation with a smoothness term (Li et al., WACV 2021)",
)
