"""Adapters for torchvision's video classifiers (R3D, MC3, R(2+1)D, S3D, MViT, Video Swin).

Class names, input sizes and preprocessing come from torchvision's weight metadata, which ships with
torchvision (no download). Weights are read from a local file, or from the torch hub cache when
``weights`` names a torchvision weight (``"DEFAULT"``, ``"KINETICS400_V1"``); videoattr downloads only
when asked with ``download=True``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision.models.video as tvv  # type: ignore[import-untyped, unused-ignore]
from torch import nn
from torchvision.models import WeightsEnum  # type: ignore[import-untyped, unused-ignore]

from videoattr.core.errors import ArgumentFileNotFoundError, Setting
from videoattr.core.hooks import unwrap_model
from videoattr.zoo.adapter import VideoAdapter
from videoattr.zoo.attention import attention_layout
from videoattr.zoo.preprocessing import Preprocessing
from videoattr.zoo.registry import ZooEntry, register
from videoattr.zoo.tokens import TokenGrid
from videoattr.zoo.weights import load_state_dict_checked, read_state_dict


def kinetics400_classes() -> list[str]:
    """The 400 Kinetics-400 class names in alphabetical order (from torchvision's weight metadata)."""
    return list(tvv.R2Plus1D_18_Weights.DEFAULT.meta["categories"])


@dataclass(frozen=True)
class _Spec:
    builder: Callable[..., nn.Module]
    weights: type[WeightsEnum]
    clip_len: int
    layer: Callable[[nn.Module], str]
    tokens: TokenGrid | None
    description: str


def _last_block_norm1(model: nn.Module) -> str:
    blocks = getattr(model, "blocks")  # noqa: B009
    return f"model.blocks.{len(blocks) - 1}.norm1"


_SPECS: dict[str, _Spec] = {
    "r3d_18": _Spec(
        tvv.r3d_18,
        tvv.R3D_18_Weights,
        16,
        lambda m: "model.layer4",
        None,
        "ResNet3D-18 (Kinetics-400), 16 x 112 x 112",
    ),
    "mc3_18": _Spec(
        tvv.mc3_18,
        tvv.MC3_18_Weights,
        16,
        lambda m: "model.layer4",
        None,
        "Mixed-convolution ResNet-18 (Kinetics-400), 16 x 112 x 112",
    ),
    "r2plus1d_18": _Spec(
        tvv.r2plus1d_18,
        tvv.R2Plus1D_18_Weights,
        16,
        lambda m: "model.layer4",
        None,
        "R(2+1)D-18 (Kinetics-400), 16 x 112 x 112",
    ),
    "s3d": _Spec(
        tvv.s3d,
        tvv.S3D_Weights,
        16,
        lambda m: "model.features",
        None,
        "S3D (Kinetics-400), 16 x 224 x 224 (at least 14 frames)",
    ),
    # MViT: the last block's norm1 (its attention input), where patch tokens still reach the class token.
    "mvit_v1_b": _Spec(
        tvv.mvit_v1_b,
        tvv.MViT_V1_B_Weights,
        16,
        _last_block_norm1,
        TokenGrid((2, 32, 32)),
        "MViT-B v1 (Kinetics-400), exactly 16 x 224 x 224",
    ),
    "mvit_v2_s": _Spec(
        tvv.mvit_v2_s,
        tvv.MViT_V2_S_Weights,
        16,
        _last_block_norm1,
        TokenGrid((2, 32, 32)),
        "MViT-S v2 (Kinetics-400), exactly 16 x 224 x 224",
    ),
    "swin3d_t": _Spec(
        tvv.swin3d_t,
        tvv.Swin3D_T_Weights,
        32,
        lambda m: "model.features",
        TokenGrid((2, 32, 32), channels_last=True),
        "Video Swin-T (Kinetics-400), 32 x 224 x 224",
    ),
    "swin3d_s": _Spec(
        tvv.swin3d_s,
        tvv.Swin3D_S_Weights,
        32,
        lambda m: "model.features",
        TokenGrid((2, 32, 32), channels_last=True),
        "Video Swin-S (Kinetics-400), 32 x 224 x 224",
    ),
    "swin3d_b": _Spec(
        tvv.swin3d_b,
        tvv.Swin3D_B_Weights,
        32,
        lambda m: "model.features",
        TokenGrid((2, 32, 32), channels_last=True),
        "Video Swin-B (Kinetics-400), 32 x 224 x 224",
    ),
}


def _hub_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _torchvision_state(
    name: str, spec: _Spec, weights: str, download: bool
) -> dict[str, torch.Tensor]:
    """State dict for ``weights`` = a torchvision weight name or a local file."""
    enum_names = [w.name for w in spec.weights] + ["DEFAULT"]
    if weights.upper() in enum_names:
        member: Any = (
            spec.weights[weights.upper()] if weights.upper() != "DEFAULT" else spec.weights.DEFAULT
        )
        cached = _hub_file(member.url)
        if cached.is_file():
            return read_state_dict(cached, published=member.url)
        if download:
            state: dict[str, torch.Tensor] = member.get_state_dict(progress=True, check_hash=True)
            return state
        raise ArgumentFileNotFoundError(
            f"{name} weights {spec.weights.__name__}.{member.name} are not in the torch hub cache "
            f"({cached}). Download {member.url} and ",
            Setting("weights", "'/path/to/file.pth'"),
            f", put the file at {cached}, or ",
            Setting("download", "True"),
            ".",
            argument="weights",
        )
    return read_state_dict(weights, published=f"torchvision: {spec.weights.DEFAULT.url}")


def preprocessing(name: str) -> Preprocessing:
    """The preprocessing of torchvision's ``transforms()`` preset for model ``name``."""
    preset = _SPECS[name].weights.DEFAULT.transforms()
    crop = (int(preset.crop_size[0]), int(preset.crop_size[1]))
    r = [int(v) for v in preset.resize_size]
    resize: tuple[int] | tuple[int, int] = (r[0],) if len(r) == 1 else (r[0], r[1])
    mean = (float(preset.mean[0]), float(preset.mean[1]), float(preset.mean[2]))
    std = (float(preset.std[0]), float(preset.std[1]), float(preset.std[2]))
    return Preprocessing(resize, crop, mean, std, antialias=False)


def load_torchvision(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    *,
    download: bool = False,
    clip_len: int | None = None,
    size: int | Sequence[int] | None = None,
    model: nn.Module | None = None,
) -> VideoAdapter:
    """Build the adapter of a torchvision video classifier.

    Args:
        name: one of ``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``s3d``, ``mvit_v1_b``, ``mvit_v2_s``,
            ``swin3d_t``, ``swin3d_s``, ``swin3d_b``.
        weights: ``None`` (random initialisation), a local state-dict file, or a torchvision weight name
            (``"DEFAULT"``, ``"KINETICS400_V1"``) found in the torch hub cache.
        num_classes: size of the classifier; default 400 (Kinetics-400, with its class names).
        download: allow torchvision to download a named weight missing from the cache. Default ``False``.
        clip_len: override the native clip length (the CNNs and Swin accept other lengths).
        size: override the native ``(H, W)`` (preprocessing then crops to it).
        model: an already built network of this family (e.g. a smaller MViT) used instead of building one;
            it may be wrapped by ``torch.compile``, ``DataParallel`` or ``DistributedDataParallel``
            (weights load into, and the default layer is found in, the wrapped network).

    Raises:
        FileNotFoundError: a named weight is not cached, or the weights file does not exist.
        ValueError: the weights do not match the architecture (lists the keys).
    """
    spec = _SPECS[name]
    meta = spec.weights.DEFAULT.meta
    prep = preprocessing(name)
    categories: list[str] = list(meta["categories"])
    k = len(categories) if num_classes is None else int(num_classes)
    net = model if model is not None else spec.builder(weights=None, num_classes=k)
    if weights is not None:
        state = _torchvision_state(name, spec, os.fspath(weights), download)
        load_state_dict_checked(net, state, source=f"{name} weights {os.fspath(weights)!r}")
    return VideoAdapter(
        net,
        clip_len=spec.clip_len if clip_len is None else clip_len,
        size=prep.crop if size is None else size,
        mean=prep.mean,
        std=prep.std,
        layer=spec.layer(unwrap_model(net)),
        tokens=spec.tokens,
        resize=prep.resize if size is None else None,
        sampling="strided",
        class_names=categories if k == len(categories) else None,
        name=name,
        attention_layout=attention_layout(net, prefix="model."),
    )


def _builder(name: str) -> Callable[..., VideoAdapter]:
    def build(
        weights: str | os.PathLike[str] | None = None,
        num_classes: int | None = None,
        **options: Any,
    ) -> VideoAdapter:
        return load_torchvision(name, weights, num_classes, **options)

    build.__name__ = f"load_{name}"
    return build


for _name, _spec in _SPECS.items():
    register(
        ZooEntry(
            name=_name,
            builder=_builder(_name),
            description=f"torchvision {_spec.description}",
            requires=(),
            weights=f"local file, or {', '.join(w.name for w in _spec.weights)} / DEFAULT from the torch "
            f"hub cache ({_spec.weights.DEFAULT.url})",
            downloads=True,
        )
    )
