"""Attention rollout and relevance on tiny random Hugging Face models against independent references.

VideoMAE and ViViT: the references multiply the full ``N x N`` matrices built from the model's own
``output_attentions=True`` under eager attention (and their gradients). TimeSformer: the reference
forms each block's full token-mixing matrices from the probabilities its ``attn_drop`` modules receive.
All in float64.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from videoattr.methods import AttentionRelevance, AttentionRollout
from videoattr.zoo import VideoAdapter, load

pytest.importorskip("transformers")

SMALL = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "videomae": {"image_size": 32, "patch_size": 8, "num_frames": 4, "tubelet_size": 2, **SMALL},
    "videomae_cls": {
        "image_size": 32,
        "patch_size": 8,
        "num_frames": 4,
        "tubelet_size": 2,
        "use_mean_pooling": False,
        **SMALL,
    },
    "vivit": {"image_size": 32, "num_frames": 4, "tubelet_size": [2, 8, 8], **SMALL},
    "timesformer": {"image_size": 32, "patch_size": 8, "num_frames": 4, **SMALL},
}


def adapter(name: str) -> VideoAdapter:
    torch.manual_seed(0)
    family = name.split("_")[0]
    a = load(family, num_classes=3, config=CONFIGS[name]).double().eval()
    for (
        p
    ) in a.parameters():  # larger weights than the init's, so that attention is far from uniform
        p.data.normal_(0, 0.5)
    return a


def clip(b: int = 2) -> Tensor:
    return torch.randn(
        b, 3, 4, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )


def grid(model: VideoAdapter, row: Tensor) -> Tensor:
    """A row over the stream's tokens on the (T', H', W') grid (the zoo's TokenGrid, prefix dropped)."""
    layout = model.attention_layout
    assert layout is not None and layout.tokens is not None
    return layout.tokens.to_volume(row[:, :, None], (4, 32, 32))[:, 0]


def eager_attentions(model: VideoAdapter, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    net = model.model
    before = net.config._attn_implementation
    net.set_attn_implementation("eager")
    try:
        out = net(x.permute(0, 2, 1, 3, 4), output_attentions=True)
    finally:
        net.set_attn_implementation(before)
    assert len(out.attentions) == 2
    return out.logits, out.attentions


def read(model: VideoAdapter, r: Tensor) -> Tensor:
    """The rows of ``R`` ``(B, N, N)`` the classifier reads: the class token's or the patches' mean."""
    layout = model.attention_layout
    assert layout is not None
    return r.mean(dim=1) if layout.read == "mean" else r[:, layout.read]


@pytest.mark.parametrize("name", ["videomae", "videomae_cls", "vivit"])
def test_rollout_is_the_product_of_the_models_attentions(name: str) -> None:
    model, x = adapter(name), clip()
    _, attentions = eager_attentions(model, x)
    n = attentions[0].shape[-1]
    eye = torch.eye(n, dtype=torch.float64)
    r = eye.expand(x.shape[0], n, n)
    for a in attentions:  # R = Ã_L ... Ã_1, full matrices
        m = 0.5 * a.mean(dim=1) + 0.5 * eye
        r = (m / m.sum(dim=-1, keepdim=True)) @ r
    expected = grid(model, read(model, r))
    out = AttentionRollout(model).attribute(x, resize=False)[:, 0]
    torch.testing.assert_close(out, expected, rtol=1e-8, atol=1e-10)
    assert float(expected.detach().std()) > 1e-3  # not a flat map


@pytest.mark.parametrize("name", ["videomae", "videomae_cls", "vivit"])
def test_relevance_is_the_formula_on_the_models_attentions_and_gradients(name: str) -> None:
    model, x = adapter(name), clip()
    target = torch.tensor([1, 2])
    logits, attentions = eager_attentions(model, x)
    grads = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), attentions)
    n = attentions[0].shape[-1]
    r = torch.eye(n, dtype=torch.float64).expand(x.shape[0], n, n)
    for a, g in zip(attentions, grads, strict=True):  # R <- R + Ā R
        r = r + (g * a).clamp(min=0).mean(dim=1) @ r
    expected = grid(model, read(model, r.detach()))
    out = AttentionRelevance(model).attribute(x, target, resize=False)[:, 0]
    torch.testing.assert_close(out, expected, rtol=1e-8, atol=1e-12)
    assert float(expected.detach().std()) > 0


def timesformer_matrices(model: VideoAdapter, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Logits and the probabilities each ``attn_drop`` receives, in forward order."""
    probs: list[Tensor] = []
    handles = [
        m.register_forward_hook(lambda _m, inp, _o: probs.append(inp[0]))
        for name, m in model.named_modules()
        if name.endswith("attn_drop")
    ]
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return logits, probs


def full_temporal(a: Tensor, b: int, t: int, hw: int) -> Tensor:
    """``(B*HW, T, T)`` -> ``(B, N, N)`` on the stream ``[cls, (hw, t)...]``; the class row is zero."""
    n = 1 + hw * t
    out = torch.zeros(b, n, n, dtype=a.dtype)
    for bi in range(b):
        for p in range(hw):
            idx = [1 + p * t + s for s in range(t)]
            out[bi][torch.tensor(idx)[:, None], torch.tensor(idx)[None, :]] = a[bi * hw + p]
    return out


def full_spatial(a: Tensor, b: int, t: int, hw: int) -> Tensor:
    """``(B*T, 1+HW, 1+HW)`` -> ``(B, N, N)``; the class token's row is its frame copies' mean."""
    n = 1 + hw * t
    out = torch.zeros(b, n, n, dtype=a.dtype)
    for bi in range(b):
        for s in range(t):
            index = [0] + [1 + p * t + s for p in range(hw)]
            for i, qi in enumerate(index):
                weight = 1.0 / t if i == 0 else 1.0
                for j, kj in enumerate(index):
                    out[bi, qi, kj] += weight * a[bi * t + s, i, j]
    return out


@pytest.mark.parametrize("method", ["rollout", "relevance"])
def test_timesformer_against_full_token_mixing_matrices(method: str) -> None:
    model, x = adapter("timesformer"), clip()
    b, t, hw = 2, 4, 16
    target = torch.tensor([0, 2])
    logits, probs = timesformer_matrices(model, x)
    assert [p.shape[0] for p in probs] == [b * hw, b * t, b * hw, b * t]  # temporal, spatial, ...
    n = 1 + hw * t
    eye = torch.eye(n, dtype=torch.float64)
    r = eye.expand(b, n, n)
    if method == "rollout":
        for i, p in enumerate(probs):  # R = ... M_s2 M_t2 M_s1 M_t1
            full = (full_temporal if i % 2 == 0 else full_spatial)(p.mean(1).detach(), b, t, hw)
            m = 0.5 * full + 0.5 * eye
            r = (m / m.sum(dim=-1, keepdim=True)) @ r
        out = AttentionRollout(model).attribute(x, resize=False)[:, 0]
    else:
        grads = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), probs)
        for i, (p, g) in enumerate(zip(probs, grads, strict=True)):
            bar = (g * p).clamp(min=0).mean(1).detach()
            r = r + (full_temporal if i % 2 == 0 else full_spatial)(bar, b, t, hw) @ r
        out = AttentionRelevance(model).attribute(x, target, resize=False)[:, 0]
    expected = grid(model, r[:, 0])
    torch.testing.assert_close(out, expected, rtol=1e-8, atol=1e-12)
    assert float(expected.detach().std()) > 0


@pytest.mark.parametrize("name", ["videomae", "vivit", "timesformer"])
def test_capture_leaves_logits_and_attention_implementation_unchanged(name: str) -> None:
    from videoattr.core.attention import capture_attention

    model, x = adapter(name), clip()
    net = model.model
    before = dict(vars(net.config))
    with torch.no_grad():
        clean = model(x)
    layout = model.attention_layout
    assert layout is not None
    seen: list[int] = []
    with torch.no_grad(), capture_attention(model, layout, lambda i, _p: seen.append(i)):
        if name != "timesformer":
            assert net.config._attn_implementation == "eager"
        captured = model(x)
    assert seen == list(range(len(layout.taps)))
    # the capture changes nothing but the attention implementation; ViViT's eager attention takes
    # its softmax in float32 (sdpa in float64): the default implementation agrees to 1e-6
    torch.testing.assert_close(captured, clean, rtol=0, atol=1e-6)
    assert dict(vars(net.config)) == before
    if name != "timesformer":
        net.set_attn_implementation("eager")
        try:
            with torch.no_grad():
                eager = model(x)
        finally:
            net.set_attn_implementation("sdpa")
        torch.testing.assert_close(captured, eager, rtol=0, atol=1e-10)
    else:
        torch.testing.assert_close(captured, clean, rtol=0, atol=1e-10)
    assert dict(vars(net.config)) == before
    if name != "timesformer":
        assert net.config._attn_implementation == "sdpa"
    with (
        pytest.raises(RuntimeError, match="boom"),
        capture_attention(model, layout, lambda *_: None),
    ):
        raise RuntimeError("boom")
    assert dict(vars(net.config)) == before
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    for method in (AttentionRollout(model), AttentionRelevance(model)):
        method.attribute(x, 1)
        assert dict(vars(net.config)) == before


def test_video_swin_is_refused_at_construction() -> None:
    from videoattr.methods import build_attributor

    model = load("swin3d_t", num_classes=3)
    for method in ("attention_rollout", "attention_relevance"):
        with pytest.raises(
            ValueError, match=rf"^{method} is not defined for Video Swin: .*use grad_cam"
        ):
            build_attributor(method, model)


def tiny_mvit() -> VideoAdapter:
    from torchvision.models.video.mvit import MSBlockConfig, MViT

    torch.manual_seed(0)
    blocks = [  # keys/values pooled, then queries (and the skip) pooled, then neither
        MSBlockConfig(1, 8, 8, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2]),
        MSBlockConfig(2, 8, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1]),
        MSBlockConfig(2, 16, 16, [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]),
    ]
    net = MViT(
        (32, 32),
        4,
        blocks,
        residual_pool=True,
        residual_with_cls_embed=False,
        rel_pos_embed=True,
        proj_after_attn=True,
        num_classes=3,
    )
    model = load("mvit_v2_s", num_classes=3, model=net, clip_len=4, size=32).double().eval()
    for p in model.parameters():
        p.data.normal_(0, 0.5)
    return model


def pooling_matrix(size: tuple[int, int, int], pool: Any) -> Tensor:
    """``(1 + N_out, 1 + N_in)``: the class token kept, each pooled token the mean of its window."""
    if pool is None:
        n = 1 + size[0] * size[1] * size[2]
        return torch.eye(n, dtype=torch.float64)
    out = pool.out_size(size)
    m = torch.zeros(
        1 + out[0] * out[1] * out[2], 1 + size[0] * size[1] * size[2], dtype=torch.float64
    )
    m[0, 0] = 1.0
    for j, (ot, oh, ow) in enumerate(
        (a, b, c) for a in range(out[0]) for b in range(out[1]) for c in range(out[2])
    ):
        cells = [
            (t, h, w)
            for t in range(
                ot * pool.stride[0] - pool.padding[0],
                ot * pool.stride[0] - pool.padding[0] + pool.kernel[0],
            )
            for h in range(
                oh * pool.stride[1] - pool.padding[1],
                oh * pool.stride[1] - pool.padding[1] + pool.kernel[1],
            )
            for w in range(
                ow * pool.stride[2] - pool.padding[2],
                ow * pool.stride[2] - pool.padding[2] + pool.kernel[2],
            )
            if 0 <= t < size[0] and 0 <= h < size[1] and 0 <= w < size[2]
        ]
        for t, h, w in cells:
            m[1 + j, 1 + (t * size[1] + h) * size[2] + w] = 1.0 / len(cells)
    return m


@pytest.mark.parametrize("method", ["rollout", "relevance"])
def test_mvit_against_full_pooling_matrices(method: str) -> None:
    from videoattr.core.attention import capture_attention

    model, x = tiny_mvit(), clip()
    layout = model.attention_layout
    assert layout is not None and [t.mixing.kind for t in layout.taps] == ["pooled"] * 3
    target = torch.tensor([2, 0])
    probs: list[Tensor] = []
    x_in = x.clone().requires_grad_(True)
    with capture_attention(model, layout, lambda _i, p: probs.append(p)):
        logits = model(x_in)
    assert [tuple(p.shape[-2:]) for p in probs] == [(129, 33), (33, 129), (33, 33)]
    grads = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), probs)
    rows = []
    for b in range(2):
        r = torch.eye(probs[-1].shape[-2], dtype=torch.float64)[0]
        for tap, p, g in reversed(list(zip(layout.taps, probs, grads, strict=True))):
            mixing = tap.mixing
            kv = pooling_matrix(mixing.size, mixing.kv)
            skip = pooling_matrix(mixing.size, mixing.skip)
            if method == "rollout":
                m = 0.5 * p[b].mean(0).detach() @ kv + 0.5 * skip
                m = m / m.sum(dim=-1, keepdim=True)
            else:
                m = (g[b] * p[b]).clamp(min=0).mean(0).detach() @ kv + skip
            r = r @ m
        rows.append(r)
    expected = grid(model, torch.stack(rows))
    attributor = AttentionRollout(model) if method == "rollout" else AttentionRelevance(model)
    out = attributor.attribute(x, target, resize=False)[:, 0]
    assert out.shape == (2, 2, 8, 8)
    torch.testing.assert_close(out, expected, rtol=1e-8, atol=1e-12)
    assert float(expected.std()) > 0
