from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import pytest
import torch
from torch import Tensor, nn

from videoattr import zoo
from videoattr.core.hooks import capture_layer
from videoattr.datasets import SyntheticMotion
from videoattr.demo_transformer import (
    ATTENTION_LAYERS,
    CHECKPOINT,
    CLASS_NAMES,
    CLIP_LEN,
    DATASET_KWARGS,
    DIM,
    GRADCAM_LAYER,
    HEADS,
    SIZE,
    Block,
    DemoTransformer,
    load_demo_transformer,
)
from videoattr.methods import GradCAM3D


def _attention_maps(model: nn.Module, x: Tensor, layers: tuple[str, ...]) -> list[Tensor]:
    found: list[Tensor] = []
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out: found.append(out.detach())
        )
        for name in layers
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return found


def test_checkpoint_ships_small_and_loads_in_eval_mode() -> None:
    path = resources.files("videoattr").joinpath("assets", CHECKPOINT)
    with path.open("rb") as f:
        assert len(f.read()) < 1_000_000
    model = load_demo_transformer()
    assert isinstance(model, DemoTransformer) and not model.training
    x = torch.zeros(1, 3, CLIP_LEN, SIZE, SIZE)
    with capture_layer(model, GRADCAM_LAYER) as cap, torch.no_grad():
        logits = model(x)
    assert logits.shape == (1, len(CLASS_NAMES))
    assert cap.output.shape == (1, 1 + 4 * 7 * 7, DIM)
    maps = _attention_maps(model, x, ATTENTION_LAYERS)
    assert [tuple(a.shape) for a in maps] == [(1, HEADS, 197, 197)] * len(ATTENTION_LAYERS)
    for a in maps:
        torch.testing.assert_close(a.sum(-1), torch.ones(1, HEADS, 197))


def test_accuracy_on_a_fresh_held_out_draw() -> None:
    model = load_demo_transformer()
    # seed 7 is used neither by the training (1) nor by the training script's evaluation (2)
    # measured: full 1.00, partial 0.875 (32 and 28 of 32 clips)
    for evidence, minimum in (("full", 0.9), ("partial", 0.75)):
        data = SyntheticMotion(seed=7, evidence=evidence, **DATASET_KWARGS)  # type: ignore[arg-type]
        batch = data.sample(32)
        with torch.no_grad():
            accuracy = (model(batch.clips).argmax(1) == batch.labels).float().mean().item()
        assert accuracy >= minimum, (evidence, accuracy)


def test_output_is_deterministic() -> None:
    x = SyntheticMotion(seed=11, **DATASET_KWARGS).sample(2).clips
    with torch.no_grad():
        first = load_demo_transformer()(x)
        second = load_demo_transformer()(x)
        third = load_demo_transformer()(x[:1])  # batch-independent
    assert torch.equal(first, second)
    torch.testing.assert_close(third, first[:1], rtol=1e-5, atol=1e-5)
    # the same seed builds the same initial weights (the training script relies on it)
    torch.manual_seed(0)
    a = DemoTransformer().state_dict()
    torch.manual_seed(0)
    b = DemoTransformer().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_refuses_clips_of_another_size() -> None:
    model = DemoTransformer()
    with pytest.raises(
        ValueError, match=r"x: expected clips \(B, 3, 16, 56, 56\).*\(1, 3, 8, 56, 56\)"
    ):
        model(torch.zeros(1, 3, 8, SIZE, SIZE))
    with pytest.raises(ValueError, match="tubelet"):
        DemoTransformer(clip_len=15)
    with pytest.raises(ValueError, match="multiple of heads"):
        DemoTransformer(dim=50, heads=3)


def test_block_equals_torch_multihead_attention_in_float64() -> None:
    """The explicit-softmax block against PyTorch's own attention (an independent implementation)."""
    torch.manual_seed(3)
    dim, heads = 12, 3
    block = Block(dim, heads).double().eval()
    mha = nn.MultiheadAttention(dim, heads, batch_first=True).double().eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(block.attn.qkv.weight)
        mha.in_proj_bias.copy_(block.attn.qkv.bias)
        mha.out_proj.weight.copy_(block.attn.proj.weight)
        mha.out_proj.bias.copy_(block.attn.proj.bias)
    x = torch.randn(2, 7, dim, dtype=torch.float64)
    with torch.no_grad():
        h = block.norm1(x)
        expected_out, expected_attn = mha(h, h, h, need_weights=True, average_attn_weights=False)
        expected = x + expected_out
        expected = expected + block.mlp(block.norm2(expected))
    (attn,) = _attention_maps(block, x, ("attn.softmax",))
    torch.testing.assert_close(attn, expected_attn, rtol=0, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)


def test_zoo_entry_maps_tokens_to_the_grid_and_grad_cam_localises_nonzero() -> None:
    adapter = zoo.load("demo-transformer")
    assert adapter.name == "demo-transformer" and adapter.layer == f"model.{GRADCAM_LAYER}"
    assert adapter.class_names == list(CLASS_NAMES)
    assert zoo.get_entry("demo-transformer").weights == "bundled"
    x = SyntheticMotion(seed=4, **DATASET_KWARGS).sample(2).clips
    with capture_layer(adapter, adapter.layer) as cap, torch.no_grad():
        adapter(x)
    assert adapter.reshape is not None
    assert adapter.reshape(cap.output).shape == (2, DIM, 4, 7, 7)
    maps = GradCAM3D(adapter, adapter.layer, reshape=adapter.reshape).attribute(x)
    assert maps.shape == (2, 1, CLIP_LEN, SIZE, SIZE)
    assert bool((maps.flatten(1).amax(1) > 0).all())
    with pytest.raises(ValueError, match="fixed bundled weights"):
        zoo.load("demo-transformer", weights="x.pt")


def test_attention_rollout_equals_the_product_of_the_hooked_softmax_outputs() -> None:
    """The library's rollout on the demo transformer against a direct full-matrix computation."""
    from videoattr.methods import AttentionRollout
    from videoattr.zoo.demo import DEMO_TRANSFORMER_ATTENTION

    model = load_demo_transformer().double()
    x = SyntheticMotion(seed=5, **DATASET_KWARGS).sample(2).clips.double()
    maps = AttentionRollout(model, layout=DEMO_TRANSFORMER_ATTENTION, resize=False).attribute(x)
    n = 1 + 4 * 7 * 7
    rollout = torch.eye(n, dtype=torch.float64).expand(2, n, n)
    for a in _attention_maps(model, x, ATTENTION_LAYERS):
        mixed = 0.5 * a.mean(1) + 0.5 * torch.eye(n, dtype=torch.float64)
        rollout = (mixed / mixed.sum(-1, keepdim=True)) @ rollout
    expected = rollout[:, 0, 1:].reshape(2, 1, 4, 7, 7)  # the class token's row, time-major grid
    assert maps.shape == (2, 1, 4, 7, 7)
    torch.testing.assert_close(maps, expected, rtol=1e-10, atol=1e-12)


def test_attention_methods_on_the_zoo_entry_and_the_bare_model_agree() -> None:
    from videoattr.methods import AttentionRelevance
    from videoattr.zoo.demo import DEMO_TRANSFORMER_ATTENTION

    batch = SyntheticMotion(seed=3, evidence="full", **DATASET_KWARGS).sample(2)
    adapter = zoo.load("demo-transformer")
    from_zoo = AttentionRelevance(adapter).attribute(batch.clips, batch.labels)
    bare = AttentionRelevance(load_demo_transformer(), layout=DEMO_TRANSFORMER_ATTENTION)
    torch.testing.assert_close(bare.attribute(batch.clips, batch.labels), from_zoo)
    assert from_zoo.shape == (2, 1, CLIP_LEN, SIZE, SIZE)


def test_attention_relevance_localises_and_changes_with_the_weights() -> None:
    """Relevance points at the evidence and fails the randomisation check's null (rho well below 1)."""
    from videoattr.methods import AttentionRelevance
    from videoattr.metrics import mass_in_ground_truth, randomized_correlation

    batch = SyntheticMotion(seed=3, evidence="full", **DATASET_KWARGS).sample(4)
    adapter = zoo.load("demo-transformer")
    maps = AttentionRelevance(adapter).attribute(batch.clips, batch.labels)
    share = float(batch.masks.float().mean())  # what a map blind to the evidence scores
    # measured: 0.18 on average (0.03 to 0.37) against a ground-truth share of 0.027
    assert float(mass_in_ground_truth(maps, batch.masks).mean()) > 4 * share

    def relevance(model: nn.Module) -> Callable[[Tensor, Tensor], Tensor]:
        method = AttentionRelevance(model)
        return lambda x, y: method.attribute(x, y)

    rho = randomized_correlation(adapter, relevance, batch.clips, batch.labels, seed=0)
    # measured: -0.12, -0.00, 0.15, 0.24 (a map that ignores the weights scores 1)
    assert float(rho.mean()) < 0.5 and bool((rho < 0.8).all()), rho
