"""videoattr: attribution methods for video classification networks.

Every method is an [`Attributor`][videoattr.Attributor]: built with a model (``(B, C, T, H, W)`` clips to ``(B, K)``
logits) and options, called as ``attribute(x, target=None, ...)``, returning ``(B, 1, T, H, W)`` maps or
``(B, A, T, H, W)`` perturbation masks.

``import videoattr`` is cheap: the names below and the subpackages (``videoattr.zoo``,
``videoattr.io``, ``videoattr.viz``, ``videoattr.metrics``, ``videoattr.datasets``,
``videoattr.runner``, ...) are imported on first use.

Example:
    >>> import videoattr as va
    >>> maps = va.GradCAM3D(model, layer="layer4").attribute(clip, target=3)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from videoattr._version import __version__

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from videoattr import core, datasets, demo_model, io, methods, metrics, runner, viz, zoo
    from videoattr.core import Attributor, Explanation, Target
    from videoattr.core.attention import AttentionLayout, AttentionTap
    from videoattr.methods import (
        RISE,
        STEP,
        AttentionRelevance,
        AttentionRollout,
        ExtremalPerturbation2D,
        ExtremalPerturbation3D,
        GradCAM3D,
        GradCAMPlusPlus3D,
        IntegratedGradients,
        LayerCAM3D,
        Occlusion,
        PerturbationSettings,
        Saliency,
        ScoreCAM3D,
        SmoothGrad,
        TemporalOcclusion,
        XGradCAM3D,
        build_attributor,
        method_names,
        register_method,
    )
    from videoattr.pipeline import explain_video
    from videoattr.runner import run

# Public name -> the module that defines it; imported on first access (PEP 562).
_LAZY_NAMES: dict[str, str] = {
    "Attributor": "videoattr.core",
    "Explanation": "videoattr.core",
    "PerturbationSettings": "videoattr.methods",
    "build_attributor": "videoattr.methods",
    "method_names": "videoattr.methods",
    "register_method": "videoattr.methods",
    "Target": "videoattr.core",
    "STEP": "videoattr.methods",
    "ExtremalPerturbation2D": "videoattr.methods",
    "ExtremalPerturbation3D": "videoattr.methods",
    "GradCAM3D": "videoattr.methods",
    "GradCAMPlusPlus3D": "videoattr.methods",
    "XGradCAM3D": "videoattr.methods",
    "LayerCAM3D": "videoattr.methods",
    "ScoreCAM3D": "videoattr.methods",
    "Occlusion": "videoattr.methods",
    "TemporalOcclusion": "videoattr.methods",
    "RISE": "videoattr.methods",
    "AttentionRollout": "videoattr.methods",
    "AttentionRelevance": "videoattr.methods",
    "AttentionLayout": "videoattr.core.attention",
    "AttentionTap": "videoattr.core.attention",
    "IntegratedGradients": "videoattr.methods",
    "Saliency": "videoattr.methods",
    "SmoothGrad": "videoattr.methods",
    "explain_video": "videoattr.pipeline",
    "run": "videoattr.runner",
}

# Subpackages and modules reachable as attributes: ``videoattr.zoo.load(...)``.
_SUBMODULES: tuple[str, ...] = (
    "core",
    "datasets",
    "demo_model",
    "explain_video",
    "io",
    "methods",
    "metrics",
    "pipeline",
    "runner",
    "viz",
    "zoo",
)

__all__ = [
    "RISE",
    "STEP",
    "AttentionLayout",
    "AttentionRelevance",
    "AttentionRollout",
    "AttentionTap",
    "Attributor",
    "Explanation",
    "ExtremalPerturbation2D",
    "ExtremalPerturbation3D",
    "GradCAM3D",
    "GradCAMPlusPlus3D",
    "IntegratedGradients",
    "LayerCAM3D",
    "Occlusion",
    "PerturbationSettings",
    "Saliency",
    "ScoreCAM3D",
    "SmoothGrad",
    "Target",
    "TemporalOcclusion",
    "XGradCAM3D",
    "__version__",
    "build_attributor",
    "core",
    "datasets",
    "demo_model",
    "explain_video",
    "io",
    "method_names",
    "methods",
    "metrics",
    "register_method",
    "run",
    "runner",
    "viz",
    "zoo",
]


def __getattr__(name: str) -> Any:
    """Import a public name or subpackage on first access."""
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
