"""Extremal perturbation for video: one engine, three configurations (2D-EP, 3D-EP, STEP).

The engine's parts can be used on their own: [`Perturbation`][videoattr.core.pyramid.Perturbation]
(blur/fade pyramid), [`MaskGenerator`][videoattr.methods.extremal.masks.MaskGenerator] (smooth masks from a
coarse grid, with the fused soft-max pooling of `videoattr.methods.extremal.pooling`), the energy terms in
`videoattr.methods.extremal.objectives`, and the optimisation loop
[`optimize_masks`][videoattr.methods.extremal.optimize.optimize_masks] configured by
[`PerturbationSettings`][videoattr.methods.extremal.settings.PerturbationSettings].

Example:
    >>> import torch
    >>> from videoattr.demo_model import load_demo_model
    >>> step = STEP(load_demo_model(), areas=[0.1, 0.2], preset="fast", max_iter=3, progress=False)
    >>> result = step.optimize(torch.randn(2, 3, 8, 32, 32), target=1)
    >>> result.masks.shape, result.history.energy.shape
    (torch.Size([2, 2, 8, 32, 32]), torch.Size([2, 2, 3]))
"""

from videoattr.core.pyramid import Perturbation
from videoattr.methods.extremal.attributors import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    ExtremalPerturbationBase,
)
from videoattr.methods.extremal.masks import MaskGenerator
from videoattr.methods.extremal.objectives import AreaTerm, SmoothnessTerm, ellipsoid_kernel
from videoattr.methods.extremal.optimize import (
    PerturbationHistory,
    PerturbationResult,
    optimize_masks,
)
from videoattr.methods.extremal.settings import (
    FAST_ITERATIONS,
    PAPER_ITERATIONS,
    STEP_AREA_GROWTH,
    PerturbationSettings,
    default_sigma,
)

__all__ = [
    "FAST_ITERATIONS",
    "PAPER_ITERATIONS",
    "STEP",
    "STEP_AREA_GROWTH",
    "AreaTerm",
    "ExtremalPerturbation2D",
    "ExtremalPerturbation3D",
    "ExtremalPerturbationBase",
    "MaskGenerator",
    "Perturbation",
    "PerturbationHistory",
    "PerturbationResult",
    "PerturbationSettings",
    "SmoothnessTerm",
    "default_sigma",
    "ellipsoid_kernel",
    "optimize_masks",
]
