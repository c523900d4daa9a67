"""Hugging Face video transformers (VideoMAE, TimeSformer, ViViT) as adapters; needs ``transformers``.

Install with ``pip install videoattr[transformers]``. The models take ``(B, T, C, H, W)`` pixel values
and return a ``ModelOutput``; the adapter permutes our ``(B, C, T, H, W)`` clips and returns the
logits. The default Grad-CAM layer is the last encoder layer's ``layernorm_before`` (the input of its
attention, where patch tokens still reach the class token or the pooled output); its tokens are
rearranged on the ``(T', H', W')`` patch grid with the class token dropped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from videoattr.core.errors import ArgumentFileNotFoundError, Setting
from videoattr.zoo.adapter import VideoAdapter
from videoattr.zoo.attention import attention_layout
from videoattr.zoo.registry import ZooEntry, register
from videoattr.zoo.tokens import TokenGrid


@dataclass(frozen=True)
class _Family:
    model_type: str
    config_class: str
    model_class: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: int
    example: str


_FAMILIES: dict[str, _Family] = {
    "videomae": _Family(
        "videomae",
        "VideoMAEConfig",
        "VideoMAEForVideoClassification",
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        224,
        "MCG-NJU/videomae-base-finetuned-kinetics",
    ),
    "timesformer": _Family(
        "timesformer",
        "TimesformerConfig",
        "TimesformerForVideoClassification",
        (0.45, 0.45, 0.45),
        (0.225, 0.225, 0.225),
        224,
        "facebook/timesformer-base-finetuned-k400",
    ),
    # ViViT's processor maps x in [0, 1] to 2x - 1 and then normalises with 0.5/0.5: (x - 0.75) / 0.25.
    "vivit": _Family(
        "vivit",
        "VivitConfig",
        "VivitForVideoClassification",
        (0.75, 0.75, 0.75),
        (0.25, 0.25, 0.25),
        256,
        "google/vivit-b-16x2-kinetics400",
    ),
}


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the Hugging Face adapters need the transformers package: pip install 'videoattr[transformers]'"
        ) from err
    return transformers


def _last_layernorm_before(model: nn.Module) -> str:
    best: tuple[int, str] | None = None
    for name, _ in model.named_modules():
        match = re.search(r"\.(\d+)\.layernorm_before$", name)
        if match and (best is None or int(match.group(1)) >= best[0]):
            best = (int(match.group(1)), name)
    if best is None:
        raise ValueError(f"no '<i>.layernorm_before' module found in {type(model).__name__}")
    return f"model.{best[1]}"


def _token_grid(model_type: str, config: Any) -> TokenGrid:
    if model_type == "videomae":
        p = int(config.patch_size)
        return TokenGrid((int(config.tubelet_size), p, p), prefix_tokens=0)
    if model_type == "timesformer":
        p = int(config.patch_size)
        return TokenGrid((1, p, p), prefix_tokens=1, frames_in_batch=True)
    t, h, w = (int(v) for v in config.tubelet_size)
    return TokenGrid((t, h, w), prefix_tokens=1)


def _preprocessing_from_file(directory: Path, family: _Family) -> tuple[Any, Any, int | None]:
    """Mean, std and resize from a checkpoint folder's ``preprocessor_config.json`` (if any).

    Raises:
        ValueError: the file is not valid JSON, or not an object with numeric ``image_mean``,
            ``image_std`` (3 values each) and ``size`` (the message names the file and the field).
    """
    file = directory / "preprocessor_config.json"
    if not file.is_file():
        return family.mean, family.std, None
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from err
    if not isinstance(cfg, Mapping):
        raise ValueError(
            f"{file} must hold a JSON object of preprocessing settings (image_mean, image_std, "
            f"size, ...); it holds a JSON {type(cfg).__name__}"
        )
    mean = _triple(cfg.get("image_mean", family.mean), file, "image_mean")
    std = _triple(cfg.get("image_std", family.std), file, "image_std")
    if cfg.get("offset", False):  # x*scale - 1 before normalising, with scale = 1/127.5
        mean = tuple((m + 1.0) / 2.0 for m in mean)
        std = tuple(s / 2.0 for s in std)
    size = cfg.get("size", {})
    resize = size.get("shortest_edge") if isinstance(size, Mapping) else None
    if resize is not None and (
        isinstance(resize, bool) or not isinstance(resize, int) or resize <= 0
    ):
        raise ValueError(f"{file}: size.shortest_edge must be a positive int; got {resize!r}")
    return mean, std, int(resize) if resize else None


def _triple(value: Any, file: Path, field: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    ok = isinstance(value, (list, tuple)) and len(value) == 3
    if not ok or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{file}: {field} must be 3 numbers (R, G, B); got {value!r}")
    if field == "image_std" and any(v <= 0 for v in value):
        raise ValueError(f"{file}: image_std must be positive; got {value!r}")
    return tuple(float(v) for v in value)


def _class_names(config: Any) -> list[str] | None:
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label)]
    if not names or all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return None
    return names


def load_hf(
    family_name: str,
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    *,
    config: Any = None,
    download: bool = False,
) -> VideoAdapter:
    """Adapter of a Hugging Face video classifier.

    Args:
        family_name: ``"videomae"``, ``"timesformer"`` or ``"vivit"``.
        weights: ``None`` (random weights from ``config``), a local checkpoint folder, or a hub id
            (e.g. ``"MCG-NJU/videomae-base-finetuned-kinetics"``) found in the Hugging Face cache.
        num_classes: classes of a random model (ignored when ``weights`` is given).
        config: for random models, a config object of the family or a dict of its fields (default:
            the family's default, base-size config).
        download: allow ``from_pretrained`` to download a hub id that is not cached. Default ``False``.

    Raises:
        ImportError: ``transformers`` is not installed.
        FileNotFoundError: the weights are neither a local folder nor in the cache.
    """
    tr = _import_transformers()
    family = _FAMILIES[family_name]
    mean, std, resize = family.mean, family.std, None
    if weights is None:
        cfg_cls = getattr(tr, family.config_class)
        if config is None or isinstance(config, Mapping):
            cfg = cfg_cls(**dict(config or {}))
        else:
            cfg = config
        if num_classes is not None:
            cfg.num_labels = int(num_classes)
        net = getattr(tr, family.model_class)(cfg)
    else:
        source = os.fspath(weights)
        model_cls = getattr(tr, family.model_class)
        try:
            net = model_cls.from_pretrained(source, local_files_only=not download)
        except OSError as err:
            raise ArgumentFileNotFoundError(
                f"cannot load {family_name} weights {source!r} without downloading: it is neither a "
                "local checkpoint folder nor in the Hugging Face cache. Download it first (e.g. "
                f"`hf download {family.example} --local-dir DIR`, published at "
                f"https://huggingface.co/{family.example}) and ",
                Setting("weights", "'DIR'"),
                ", or ",
                Setting("download", "True"),
                ".",
                argument="weights",
            ) from err
        if Path(source).is_dir():
            mean, std, resize = _preprocessing_from_file(Path(source), family)
    cfg = net.config
    adapter = VideoAdapter(
        net,
        clip_len=int(cfg.num_frames),
        size=int(cfg.image_size),
        mean=mean,
        std=std,
        layer=_last_layernorm_before(net),
        layout="BTCHW",
        tokens=_token_grid(family.model_type, cfg),
        resize=(resize or round(int(cfg.image_size) * family.resize / 224),),
        sampling="segments",
        class_names=_class_names(cfg),
        name=family_name,
        attention_layout=attention_layout(net, prefix="model."),
    )
    return adapter


def _builder(family_name: str) -> Any:
    def build(
        weights: str | os.PathLike[str] | None = None,
        num_classes: int | None = None,
        **options: Any,
    ) -> VideoAdapter:
        return load_hf(family_name, weights, num_classes, **options)

    build.__name__ = f"load_{family_name}"
    return build


for _name, _family in _FAMILIES.items():
    register(
        ZooEntry(
            name=_name,
            builder=_builder(_name),
            description=f"Hugging Face {_family.model_class} (B, T, C, H, W); config= for random models",
            requires=("transformers",),
            weights=f"local checkpoint folder or cached hub id, e.g. {_family.example}",
            downloads=True,
        )
    )
