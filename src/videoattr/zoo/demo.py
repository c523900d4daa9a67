"""The ``"demo"`` zoo entry: the small bundled demo classifier of [`demo_model`][videoattr.demo_model]."""

from __future__ import annotations

import os
from typing import Any

from videoattr import demo_model
from videoattr.zoo.adapter import VideoAdapter
from videoattr.zoo.registry import ZooEntry, register


def load_demo(
    weights: str | os.PathLike[str] | None = None, num_classes: int | None = None, **options: Any
) -> VideoAdapter:
    """Adapter of the demo model (its weights ship with videoattr; ``weights`` must be ``None``).

    Args:
        weights: must be ``None`` (the bundled weights are used).
        num_classes: must be ``None`` (the demo model has 4 classes).
        **options: passed to [`load_demo_model`][videoattr.demo_model.load_demo_model] (``device=``).

    Raises:
        ValueError: ``weights`` or ``num_classes`` given (the demo model is fixed).
    """
    if weights is not None or num_classes is not None:
        raise ValueError("the demo model has fixed bundled weights and classes; pass weights=None")
    model = demo_model.load_demo_model(**options)
    return VideoAdapter(
        model,
        clip_len=demo_model.CLIP_LEN,
        size=demo_model.SIZE,
        mean=demo_model.MEAN,
        std=demo_model.STD,
        layer=f"model.{demo_model.GRADCAM_LAYER}",
        class_names=list(demo_model.CLASS_NAMES),
        name="demo",
    )


register(
    ZooEntry(
        name="demo",
        builder=load_demo,
        description="small bundled demo classifier (videoattr.demo_model), runs in seconds on a CPU",
        requires=(),
        weights="bundled",
    )
)
