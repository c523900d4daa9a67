"""Adapters for the video classifiers people explain (optional; nothing in the core depends on it).

``load(name, weights=None, num_classes=None, **options)`` returns a [`VideoAdapter`][videoattr.zoo.VideoAdapter]: an
``nn.Module`` taking normalised clips ``(B, C, T, H, W)`` and returning ``(B, K)`` logits, with the
model's ``clip_len``, ``size``, ``mean``/``std``, frame ``sampling``, ``preprocess(frames)``,
``class_names`` and default Grad-CAM ``layer`` / ``reshape``. ``available()`` lists the models and what
each needs; ``wrap(model, ...)`` adapts your own network. Weights are never downloaded unless asked
(``download=True`` for torchvision and Hugging Face names).

Example:
    >>> from videoattr import zoo
    >>> adapter = zoo.load("r2plus1d_18", weights="~/weights/r2plus1d_18-91a641e6.pth")
    >>> clip = adapter.preprocess(frames, sample=True)          # (1, 3, 16, 112, 112)
    >>> cam = GradCAM3D(adapter, layer=adapter.layer, reshape=adapter.reshape).attribute(clip)
"""

from __future__ import annotations

import os
from typing import Any

from videoattr.zoo import demo as _demo  # noqa: F401  (registers the entries)
from videoattr.zoo import i3d as _i3d  # noqa: F401
from videoattr.zoo import pytorchvideo_models as _pytorchvideo  # noqa: F401
from videoattr.zoo import torchvision_models as _torchvision  # noqa: F401
from videoattr.zoo import transformers as _transformers  # noqa: F401
from videoattr.zoo import tsm as _tsm  # noqa: F401
from videoattr.zoo.base import (
    FrameSampling,
    Preprocessing,
    TokenGrid,
    VideoAdapter,
    ZooEntry,
    entries,
    get_entry,
    wrap,
)


def available() -> list[ZooEntry]:
    """Every model [`load`][videoattr.zoo.load] knows, with its description, extra packages and accepted weights.

    ``entry.installed()`` tells whether its extra packages are importable.
    """
    return entries()


def load(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    **options: Any,
) -> VideoAdapter:
    """Build the adapter of model ``name`` (see [`available`][videoattr.zoo.available]).

    Args:
        name: e.g. ``"r2plus1d_18"``, ``"tsm"``, ``"i3d"``, ``"videomae"``, ``"demo"``.
        weights: ``None`` for random weights, or a local weights file (or what the entry accepts:
            torchvision weight names, Hugging Face folders/ids).
        num_classes: classifier size for random weights; default the pretrained dataset's.
        **options: model-specific options (e.g. ``dataset=``/``head=`` for TSM, ``config=`` for the
            transformers, ``download=True`` to let torchvision or Hugging Face fetch named weights).

    Raises:
        ValueError: unknown name or weights that do not fit the architecture.
        ImportError: the model needs an extra that is not installed.
        FileNotFoundError: the weights file does not exist (the message says where they are published).
    """
    entry = get_entry(name)
    if not entry.installed():
        raise ImportError(
            f"model {entry.name!r} needs {', '.join(entry.requires)}, which is not installed; "
            f"see videoattr.zoo.available()"
        )
    return entry.builder(weights=weights, num_classes=num_classes, **options)


__all__ = [
    "FrameSampling",
    "Preprocessing",
    "TokenGrid",
    "VideoAdapter",
    "ZooEntry",
    "available",
    "load",
    "wrap",
]
