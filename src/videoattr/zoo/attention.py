"""Where the zoo's transformers compute their attention: the layouts the attention methods read.

[`attention_layout`][videoattr.zoo.attention.attention_layout] recognises Hugging Face VideoMAE, ViViT
and TimeSformer and torchvision's MViT and Video Swin, and returns their
[`AttentionLayout`][videoattr.core.attention.AttentionLayout]: the attention modules in forward
order, how each mixes the tokens, the token the classifier reads and the grid of the tokens entering
the first block. The zoo's adapters carry it as ``adapter.attention_layout``.

Tested with transformers 5.25.0 (the attention modules return their probabilities as the second
element of their output once ``eager`` attention is on); transformers 4.x returns them only when
asked, and the first call of an attention method then fails in one line naming the module.

torchvision MViT v2's residual pooling (the pooled queries added back to the attention's output) is
not a token path of the mixing model: the block's skip connection plays the identity's part, so the
maps through MViT v2 leave it out.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from videoattr.core.attention import AttentionLayout, AttentionTap
from videoattr.core.hooks import unwrap_model
from videoattr.core.mixing import (
    DividedSpaceMixing,
    DividedTimeMixing,
    JointMixing,
    PooledMixing,
    TokenPool,
)
from videoattr.zoo.tokens import TokenGrid

__all__ = ["SWIN_UNSUPPORTED", "attention_layout"]

#: Why the attention methods refuse Video Swin, and what to use instead.
SWIN_UNSUPPORTED = (
    "its shifted-window attention mixes tokens only inside local 3-D windows that shift between "
    "blocks and merge between stages, and it mean-pools the last stage: there is no class token and "
    "no global attention whose row could be rolled out; use grad_cam (its adapter's default layer) "
    "or a perturbation method (rise, step) instead"
)


def _named(model: nn.Module, class_name: str, prefix: str) -> list[str]:
    return [
        f"{prefix}{name}" for name, m in model.named_modules() if type(m).__name__ == class_name
    ]


def _hf_layout(model: nn.Module, config: Any, prefix: str) -> AttentionLayout | None:
    kind = getattr(config, "model_type", None)
    if kind == "videomae":
        p = int(config.patch_size)
        return AttentionLayout(
            taps=tuple(
                AttentionTap(n, JointMixing(), output=1)
                for n in _named(model, "VideoMAESelfAttention", prefix)
            ),
            tokens=TokenGrid((int(config.tubelet_size), p, p), prefix_tokens=0),
            read="mean" if getattr(config, "use_mean_pooling", True) else 0,
            name="VideoMAE",
        )
    if kind == "vivit":
        t, h, w = (int(v) for v in config.tubelet_size)
        return AttentionLayout(
            taps=tuple(
                AttentionTap(n, JointMixing(), output=1)
                for n in _named(model, "VivitAttention", prefix)
            ),
            tokens=TokenGrid((t, h, w), prefix_tokens=1),
            read=0,
            name="ViViT",
        )
    if kind == "timesformer":
        p = int(config.patch_size)
        tokens = TokenGrid((1, p, p), prefix_tokens=1, order="hwt")  # the space-major stream
        mode = getattr(config, "attention_type", "divided_space_time")
        spatial = [
            n
            for n in _named(model, "TimesformerSelfAttention", prefix)
            if ".attention.attention" in n
        ]
        if mode == "space_only":
            return AttentionLayout(
                (),
                None,
                name="TimeSformer (space_only)",
                unsupported="its frames are classified one by one (no token joins them); use grad_cam",
            )
        if mode == "joint_space_time":
            taps = tuple(AttentionTap(n) for n in spatial)
        else:
            taps = tuple(
                tap
                for n in spatial
                for tap in (
                    AttentionTap(
                        n.replace(".attention.attention", ".temporal_attention.attention"),
                        DividedTimeMixing(1),
                    ),
                    AttentionTap(n, DividedSpaceMixing()),
                )
            )
        return AttentionLayout(taps, tokens, read=0, name=f"TimeSformer ({mode})")
    return None


def attention_layout(model: nn.Module, prefix: str = "") -> AttentionLayout | None:
    """The attention layout of a known video transformer, or ``None`` for other models.

    Args:
        model: a Hugging Face ``VideoMAEForVideoClassification``, ``VivitForVideoClassification`` or
            ``TimesformerForVideoClassification``, or torchvision's ``mvit_v2_s`` / ``mvit_v1_b`` /
            ``swin3d_*`` (also inside ``torch.compile`` / DDP wrappers).
        prefix: prepended to the tap names (``"model."`` for a model wrapped by an adapter).

    Returns:
        The layout; for Video Swin (and TimeSformer's ``space_only``) a layout that says why the
        attention methods are not defined and what to use instead.
    """
    inner = unwrap_model(model)
    if inner is not model:
        for name, m in model.named_modules():
            if m is inner:
                prefix = f"{prefix}{name}." if name else prefix
    config = getattr(inner, "config", None)
    if config is not None:
        return _hf_layout(inner, config, prefix)
    cls = type(inner).__name__
    if cls == "SwinTransformer3d":
        return AttentionLayout((), None, name="Video Swin", unsupported=SWIN_UNSUPPORTED)
    if cls == "MViT":
        return _mvit_layout(inner, prefix)
    return None


def _pool_of(module: Any) -> TokenPool | None:
    """The token pooling of an MViT ``Pool`` (its Conv3d or MaxPool3d), or ``None``."""
    if module is None:
        return None
    pool = module.pool

    def triple(v: Any) -> tuple[int, int, int]:
        t = tuple(int(i) for i in (v if isinstance(v, (tuple, list)) else (v, v, v)))
        return (t[0], t[1], t[2])

    return TokenPool(triple(pool.kernel_size), triple(pool.stride), triple(pool.padding))


def _mvit_layout(model: nn.Module, prefix: str) -> AttentionLayout:
    """torchvision MViT: pooling attention, a class token, time-major tokens of the patch embedding."""
    encoding: Any = model.pos_encoding
    size: tuple[int, int, int] = (int(encoding.temporal_size), *map(int, encoding.spatial_size))  # type: ignore[assignment]
    taps = []
    blocks: Any = model.blocks
    for i, block in enumerate(blocks):
        query = _pool_of(block.attn.pool_q)
        taps.append(
            AttentionTap(
                f"{prefix}blocks.{i}.attn",
                PooledMixing(size, kv=_pool_of(block.attn.pool_k), skip=_pool_of(block.pool_skip)),
            )
        )
        if query is not None:
            size = query.out_size(size)
    conv: Any = model.conv_proj
    stride = tuple(int(v) for v in conv.stride)
    return AttentionLayout(
        tuple(taps),
        TokenGrid((stride[0], stride[1], stride[2]), prefix_tokens=1),
        read=0,
        name="MViT",
    )
