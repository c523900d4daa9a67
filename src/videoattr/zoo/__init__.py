"""Adapters for the video classifiers people explain (optional; nothing in the core depends on it).

``load(name, weights=None, num_classes=None, **options)`` returns a [`VideoAdapter`][videoattr.zoo.VideoAdapter]: an
``nn.Module`` taking normalised clips ``(B, C, T, H, W)`` and returning ``(B, K)`` logits, with the
model's ``clip_len``, ``size``, ``mean``/``std``, frame ``sampling``, ``preprocess(frames)``,
``class_names`` and default Grad-CAM ``layer`` / ``reshape``. ``available()`` lists the models and what
each needs; ``wrap(model, ...)`` adapts your own network. Weights are never downloaded unless asked
(``download=True`` for torchvision and Hugging Face names).

One job per module: ``adapter`` ([`VideoAdapter`][videoattr.zoo.VideoAdapter], [`wrap`][videoattr.zoo.wrap]), ``sampling``
([`FrameSampling`][videoattr.zoo.FrameSampling]), ``preprocessing`` ([`Preprocessing`][videoattr.zoo.Preprocessing]), ``tokens`` ([`TokenGrid`][videoattr.zoo.TokenGrid]),
``layers`` (layer names through ``torch.compile``/DDP wrappers), ``weights`` (reading state dicts),
``registry`` ([`load`][videoattr.zoo.load], [`available`][videoattr.zoo.available], [`register`][videoattr.zoo.register]); one module per model family
(``torchvision_models``, ``tsm``, ``i3d``, ``pytorchvideo_models``, ``transformers``, ``demo``), each
registering its entries when imported here.

Example:
    >>> from videoattr import zoo
    >>> adapter = zoo.load("r2plus1d_18", weights="~/weights/r2plus1d_18-91a641e6.pth")  # doctest: +SKIP
    >>> clip = adapter.preprocess(frames, sample=True)  # (1, 3, 16, 112, 112)  # doctest: +SKIP
"""

from __future__ import annotations

# The model families register their entries when imported.
from videoattr.zoo import demo as _demo  # noqa: F401
from videoattr.zoo import i3d as _i3d  # noqa: F401
from videoattr.zoo import pytorchvideo_models as _pytorchvideo  # noqa: F401
from videoattr.zoo import torchvision_models as _torchvision  # noqa: F401
from videoattr.zoo import transformers as _transformers  # noqa: F401
from videoattr.zoo import tsm as _tsm  # noqa: F401
from videoattr.zoo.adapter import VideoAdapter, default_output, wrap
from videoattr.zoo.attention import attention_layout
from videoattr.zoo.layers import find_layer_name, unwrap_model
from videoattr.zoo.preprocessing import Preprocessing
from videoattr.zoo.registry import ZooEntry, available, entries, get_entry, load, register
from videoattr.zoo.sampling import FrameSampling
from videoattr.zoo.tokens import TokenGrid
from videoattr.zoo.weights import WeightsFileError, load_state_dict_checked, read_state_dict

__all__ = [
    "FrameSampling",
    "Preprocessing",
    "TokenGrid",
    "VideoAdapter",
    "WeightsFileError",
    "ZooEntry",
    "attention_layout",
    "available",
    "default_output",
    "entries",
    "find_layer_name",
    "get_entry",
    "load",
    "load_state_dict_checked",
    "read_state_dict",
    "register",
    "unwrap_model",
    "wrap",
]
