"""videoattr: attribution methods for video classification networks.

Every method is an [`Attributor`][videoattr.Attributor]: built with a model (``(B, C, T, H, W)`` clips to ``(B, K)``
logits) and options, called as ``attribute(x, target=None, ...)``, returning ``(B, 1, T, H, W)`` maps or
``(B, A, T, H, W)`` perturbation masks.

Example:
    >>> import videoattr as va
    >>> maps = va.GradCAM3D(model, layer="layer4").attribute(clip, target=3)
"""

# Subpackages, importable as attributes: ``videoattr.zoo.load(...)``, ``videoattr.viz.save_gif(...)``.
from videoattr import datasets, demo_model, io, metrics, viz, zoo
from videoattr._version import __version__
from videoattr.core import Attributor, ResolvedTarget, Target, resolve_target
from videoattr.methods import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    GradCAM3D,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
    black_baseline,
    integration_points,
)
from videoattr.runner import ResultStore, RunSummary, run

__all__ = [
    "STEP",
    "Attributor",
    "ExtremalPerturbation2D",
    "ExtremalPerturbation3D",
    "GradCAM3D",
    "IntegratedGradients",
    "ResolvedTarget",
    "ResultStore",
    "RunSummary",
    "Saliency",
    "SmoothGrad",
    "Target",
    "__version__",
    "black_baseline",
    "datasets",
    "demo_model",
    "integration_points",
    "io",
    "metrics",
    "resolve_target",
    "run",
    "viz",
    "zoo",
]
