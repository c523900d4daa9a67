"""Extremal perturbation for video: one engine, three configurations (2D-EP, 3D-EP, STEP).

The engine's parts can be used on their own: [`Perturbation`][videoattr.methods.extremal.Perturbation] (blur/fade pyramid),
[`MaskGenerator`][videoattr.methods.extremal.MaskGenerator] (smooth masks from a coarse grid), the energy terms in [`objectives`][videoattr.methods.extremal.objectives], and the
optimisation loop [`optimize_masks`][videoattr.methods.extremal.optimize_masks] configured by [`PerturbationSettings`][videoattr.methods.extremal.PerturbationSettings].

Example:
    >>> from tests.helpers import tiny_cnn3d, clip
    >>> result = STEP(tiny_cnn3d(), max_iter=3, progress=False).explain(clip(), target=1, areas=[0.1, 0.2])
    >>> result.masks.shape, result.history.energy.shape
    (torch.Size([2, 2, 8, 32, 32]), torch.Size([2, 2, 3]))
"""

from videoattr.methods.extremal.attributors import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    ExtremalPerturbationBase,
)
from videoattr.methods.extremal.masks import MaskGenerator
from videoattr.methods.extremal.objectives import AreaTerm, SmoothnessTerm, ellipsoid_kernel
from videoattr.methods.extremal.optimize import (
    STEP_AREA_GROWTH,
    PerturbationHistory,
    PerturbationResult,
    PerturbationSettings,
    default_sigma,
    optimize_masks,
)
from videoattr.methods.extremal.pyramid import Perturbation

__all__ = [
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
