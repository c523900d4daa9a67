"""Attribution methods: gradient family, Grad-CAM and (in [`extremal`][videoattr.methods.extremal]) extremal perturbation."""

from videoattr.methods.extremal import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    Perturbation,
    PerturbationResult,
    PerturbationSettings,
)
from videoattr.methods.grad_cam import GradCAM3D
from videoattr.methods.integrated_gradients import (
    IntegratedGradients,
    black_baseline,
    integration_points,
)
from videoattr.methods.saliency import Saliency
from videoattr.methods.smoothgrad import SmoothGrad

__all__ = [
    "STEP",
    "ExtremalPerturbation2D",
    "ExtremalPerturbation3D",
    "GradCAM3D",
    "IntegratedGradients",
    "Perturbation",
    "PerturbationResult",
    "PerturbationSettings",
    "Saliency",
    "SmoothGrad",
    "black_baseline",
    "integration_points",
]
