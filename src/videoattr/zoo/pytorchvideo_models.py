"""pytorchvideo's X3D and SlowFast as adapters; needs ``pytorchvideo`` (``pip install videoattr[pytorchvideo]``).

Only ``pytorchvideo.models`` is used: it imports and builds with current torch/torchvision, while
``pytorchvideo.transforms`` (0.1.5) does not (it imports the removed
``torchvision.transforms.functional_tensor``), so preprocessing is ours. SlowFast's two pathways are
packed by the adapter: the fast pathway is the clip itself (32 frames), the slow one every
``alpha``-th frame of it (``alpha = 4``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.zoo.adapter import VideoAdapter
from videoattr.zoo.registry import ZooEntry, register
from videoattr.zoo.weights import load_state_dict_checked, read_state_dict

MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class _X3D:
    clip_len: int
    crop: int  # evaluation crop (pytorchvideo's model zoo)
    train_crop: int  # the crop the network is built for (its head pool window)
    depth_factor: float = 2.2


_X3DS = {
    "x3d_xs": _X3D(4, 182, 160),
    "x3d_s": _X3D(13, 182, 160),
    "x3d_m": _X3D(16, 256, 224),
    "x3d_l": _X3D(16, 356, 312, 5.0),
}


class PackPathways(nn.Module):
    """Feed a SlowFast network ``[slow, fast]`` from one clip ``(B, C, T, H, W)``.

    The fast pathway is the clip, the slow pathway ``T // alpha`` frames evenly spaced over it.
    """

    def __init__(self, net: nn.Module, alpha: int = 4) -> None:
        super().__init__()
        self.net = net
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[2]
        idx = torch.linspace(0, t - 1, max(t // self.alpha, 1), device=x.device).long()
        out: Tensor = self.net([x.index_select(2, idx), x])
        return out


def _hub() -> Any:
    try:
        import pytorchvideo.models.hub as hub
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the X3D/SlowFast adapters need pytorchvideo: pip install 'videoattr[pytorchvideo]'"
        ) from err
    return hub


def _load_weights(net: nn.Module, weights: str | os.PathLike[str], url: str, name: str) -> None:
    state = read_state_dict(weights, published=f"pytorchvideo's model zoo: {url}")
    load_state_dict_checked(net, state, source=f"{name} weights {os.fspath(weights)!r}")


def _kinetics(k: int) -> list[str] | None:
    from videoattr.zoo.torchvision_models import kinetics400_classes

    names = kinetics400_classes()
    return names if k == len(names) else None


def load_x3d(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    *,
    clip_len: int | None = None,
    size: int | None = None,
) -> VideoAdapter:
    """X3D adapter (``x3d_xs``/``s``/``m``/``l``; layer ``model.blocks.4``, the last residual stage).

    Args:
        name: the X3D variant.
        weights: ``None`` (random) or a local pytorchvideo checkpoint (``{"model_state": ...}`` or a
            state dict).
        num_classes: default 400 (Kinetics-400).
        clip_len: build for another clip length (random models; the head's pool window depends on it).
        size: build for another crop size (random models).
    """
    hub = _hub()
    from pytorchvideo.models.x3d import create_x3d

    spec = _X3DS[name]
    k = 400 if num_classes is None else int(num_classes)
    net = create_x3d(
        input_clip_length=spec.clip_len if clip_len is None else clip_len,
        input_crop_size=spec.train_crop if size is None else size,
        depth_factor=spec.depth_factor,
        model_num_class=k,
    )
    if weights is not None:
        _load_weights(net, weights, hub.x3d.checkpoint_paths[name], name)
    crop = spec.crop if size is None else size
    return VideoAdapter(
        net,
        clip_len=spec.clip_len if clip_len is None else clip_len,
        size=crop,
        mean=MEAN,
        std=STD,
        layer="model.blocks.4",
        resize=(crop,),
        sampling="strided",
        class_names=_kinetics(k),
        name=name,
    )


def load_slowfast(
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    *,
    alpha: int = 4,
    **kwargs: Any,
) -> VideoAdapter:
    """SlowFast R50 8x8 adapter: 32-frame clips at 256 pixels, the two pathways packed by the adapter.

    Default Grad-CAM layer: the slow pathway's last stage, ``model.net.blocks.4.multipathway_blocks.0``.
    """
    hub = _hub()
    k = 400 if num_classes is None else int(num_classes)
    net = hub.slowfast_r50(pretrained=False, model_num_class=k, **kwargs)
    if weights is not None:
        _load_weights(net, weights, hub.slowfast.checkpoint_paths["slowfast_r50"], "slowfast_r50")
    return VideoAdapter(
        PackPathways(net, alpha),
        clip_len=32,
        size=256,
        mean=MEAN,
        std=STD,
        layer="model.net.blocks.4.multipathway_blocks.0",
        resize=(256,),
        sampling="strided",
        class_names=_kinetics(k),
        name="slowfast_r50",
    )


def _x3d_builder(name: str) -> Any:
    def build(
        weights: str | os.PathLike[str] | None = None,
        num_classes: int | None = None,
        **options: Any,
    ) -> VideoAdapter:
        return load_x3d(name, weights, num_classes, **options)

    return build


for _name, _spec in _X3DS.items():
    register(
        ZooEntry(
            name=_name,
            builder=_x3d_builder(_name),
            description=f"pytorchvideo X3D ({_name[4:].upper()}), {_spec.clip_len} x {_spec.crop} x {_spec.crop}",
            requires=("pytorchvideo",),
            weights="local file from pytorchvideo's Kinetics-400 model zoo",
        )
    )
register(
    ZooEntry(
        name="slowfast_r50",
        builder=load_slowfast,
        description="pytorchvideo SlowFast R50 8x8, 32 x 256 x 256, pathways packed by the adapter",
        requires=("pytorchvideo",),
        weights="local file from pytorchvideo's Kinetics-400 model zoo",
    )
)
