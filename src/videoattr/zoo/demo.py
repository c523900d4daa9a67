"""The ``"demo"`` zoo entry: the small bundled demo classifier of [`videoattr.demo_model`][videoattr.demo_model]."""

from __future__ import annotations

import importlib
import os
from typing import Any

from torch import nn

from videoattr.zoo.base import VideoAdapter, ZooEntry, register

DEMO_MODULE = "videoattr.demo_model"


def _layer_name(module: Any) -> str | None:
    for attr in ("LAYER", "GRAD_CAM_LAYER", "GRADCAM_LAYER", "CAM_LAYER", "DEFAULT_LAYER"):
        value = getattr(module, attr, None)
        if isinstance(value, str):
            return value
    for attr in sorted(vars(module)):
        value = getattr(module, attr)
        if attr.isupper() and "LAYER" in attr and isinstance(value, str):
            return value
    return None


def load_demo(
    weights: str | os.PathLike[str] | None = None, num_classes: int | None = None, **options: Any
) -> VideoAdapter:
    """Adapter of the demo model (its weights ship with videoattr; ``weights`` must be ``None``).

    Raises:
        ImportError: [`videoattr.demo_model`][videoattr.demo_model] is not part of this installation.
        ValueError: ``weights`` or ``num_classes`` given (the demo model is fixed).
    """
    if weights is not None or num_classes is not None:
        raise ValueError("the demo model has fixed bundled weights and classes; pass weights=None")
    try:
        demo = importlib.import_module(DEMO_MODULE)
    except ImportError as err:
        raise ImportError(
            f"the demo model ({DEMO_MODULE}) is not available in this installation"
        ) from err
    model = demo.load_demo_model(**options)
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{DEMO_MODULE}.load_demo_model() must return an nn.Module; got {type(model).__name__}"
        )
    layer = _layer_name(demo)
    return VideoAdapter(
        model,
        clip_len=int(demo.CLIP_LEN),
        size=demo.SIZE,
        mean=demo.MEAN,
        std=demo.STD,
        layer=None if layer is None else f"model.{layer}",
        class_names=list(demo.CLASS_NAMES),
        name="demo",
    )


register(
    ZooEntry(
        name="demo",
        builder=load_demo,
        description="small bundled demo classifier (videoattr.demo_model), runs in seconds on a CPU",
        requires=(DEMO_MODULE,),
        weights="bundled",
    )
)
