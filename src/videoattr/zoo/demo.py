"""The bundled demo models' zoo entries: ``"demo"`` ([`demo_model`][videoattr.demo_model], a 3-D CNN) and
``"demo-transformer"`` ([`demo_transformer`][videoattr.demo_transformer], a video transformer)."""

from __future__ import annotations

import os
from typing import Any

from videoattr import demo_model, demo_transformer
from videoattr.core.attention import AttentionLayout, AttentionTap
from videoattr.core.errors import ArgumentValueError, Setting
from videoattr.zoo.adapter import VideoAdapter, wrap
from videoattr.zoo.registry import ZooEntry, register
from videoattr.zoo.tokens import TokenGrid

#: How the demo transformer's tokens map onto its ``(4, 7, 7)`` grid: one class token, then the tubelets
#: in time-major order (the same for every block).
DEMO_TRANSFORMER_TOKENS = TokenGrid(demo_transformer.TUBELET, prefix_tokens=1, order="thw")
#: Where the demo transformer computes its attention (joint space-time attention in every block, the
#: classifier reads the class token), with module names relative to the model itself: pass it as
#: ``layout=`` to an attention method given the bare model; the zoo adapter declares it itself.
DEMO_TRANSFORMER_ATTENTION = AttentionLayout(
    taps=tuple(AttentionTap(name) for name in demo_transformer.ATTENTION_LAYERS),
    tokens=DEMO_TRANSFORMER_TOKENS,
    read=0,
    name="demo transformer",
)


def _check_fixed(weights: object, num_classes: object, name: str) -> None:
    argument = "weights" if weights is not None else "num_classes"
    if weights is not None or num_classes is not None:
        raise ArgumentValueError(
            f"the {name} has fixed bundled weights and classes; ",
            Setting(argument, "None"),
            argument=argument,
        )


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
    _check_fixed(weights, num_classes, "demo model")
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


def load_demo_transformer(
    weights: str | os.PathLike[str] | None = None, num_classes: int | None = None, **options: Any
) -> VideoAdapter:
    """Adapter of the demo transformer (its weights ship with videoattr; ``weights`` must be ``None``).

    Its Grad-CAM layer is ``model.blocks.2.norm1`` (the tokens entering the last block) with the token
    grid `DEMO_TRANSFORMER_TOKENS`; its ``attention_layout`` (for ``attention_rollout`` and
    ``attention_relevance``) taps ``model.blocks.{i}.attn.softmax``, whose outputs are the attention
    probabilities (see [`demo_transformer`][videoattr.demo_transformer]).

    Args:
        weights: must be ``None`` (the bundled weights are used).
        num_classes: must be ``None`` (the demo transformer has 4 classes).
        **options: passed to [`load_demo_transformer`][videoattr.demo_transformer.load_demo_transformer]
            (``device=``).

    Raises:
        ValueError: ``weights`` or ``num_classes`` given (the demo transformer is fixed).
    """
    _check_fixed(weights, num_classes, "demo transformer")
    model = demo_transformer.load_demo_transformer(**options)
    return wrap(
        model,
        mean=demo_transformer.MEAN,
        std=demo_transformer.STD,
        clip_len=demo_transformer.CLIP_LEN,
        size=demo_transformer.SIZE,
        layer=demo_transformer.GRADCAM_LAYER,
        tokens=DEMO_TRANSFORMER_TOKENS,
        class_names=list(demo_transformer.CLASS_NAMES),
        name="demo-transformer",
        attention_layout=DEMO_TRANSFORMER_ATTENTION,
    )


register(
    ZooEntry(
        name="demo-transformer",
        builder=load_demo_transformer,
        description=(
            "small bundled demo video transformer (videoattr.demo_transformer, 3 blocks, class "
            "token, 4x8x8 tubelets), runs in seconds on a CPU"
        ),
        requires=(),
        weights="bundled",
    )
)
