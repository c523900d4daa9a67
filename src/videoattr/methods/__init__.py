# isort: skip_file
# (the import order below is the registration order, which method_names() reports)
"""Attribution methods: gradient family, Grad-CAM and (in [`extremal`][videoattr.methods.extremal]) extremal perturbation.

Importing this package registers every built-in method (see [`registry`][videoattr.methods.registry]): build one by name with
[`build_attributor`][videoattr.methods.registry.build_attributor], list them with [`method_names`][videoattr.methods.registry.method_names].
"""

from videoattr.methods.registry import (
    MethodInfo,
    build_attributor,
    method_info,
    method_names,
    register_method,
    resolve_method,
    unregister_method,
)
from videoattr.methods.saliency import Saliency
from videoattr.methods.integrated_gradients import (
    IntegratedGradients,
)
from videoattr.methods.smoothgrad import SmoothGrad
from videoattr.methods.grad_cam import GradCAM3D
from videoattr.methods.grad_cam_pp import GradCAMPlusPlus3D
from videoattr.methods.xgrad_cam import XGradCAM3D
from videoattr.methods.layer_cam import LayerCAM3D
from videoattr.methods.score_cam import ScoreCAM3D
from videoattr.methods.occlusion import Occlusion, TemporalOcclusion
from videoattr.methods.rise import RISE
from videoattr.methods.attention_rollout import AttentionRollout
from videoattr.methods.attention_relevance import AttentionRelevance
from videoattr.methods.extremal import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    PerturbationResult,
    PerturbationSettings,
)

__all__ = [
    "RISE",
    "STEP",
    "AttentionRelevance",
    "AttentionRollout",
    "ExtremalPerturbation2D",
    "ExtremalPerturbation3D",
    "GradCAM3D",
    "GradCAMPlusPlus3D",
    "IntegratedGradients",
    "LayerCAM3D",
    "MethodInfo",
    "Occlusion",
    "PerturbationResult",
    "PerturbationSettings",
    "Saliency",
    "ScoreCAM3D",
    "SmoothGrad",
    "TemporalOcclusion",
    "XGradCAM3D",
    "build_attributor",
    "method_info",
    "method_names",
    "register_method",
    "resolve_method",
    "unregister_method",
]
