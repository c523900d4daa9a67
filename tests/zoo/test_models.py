"""Every adapter with random weights: forward, default Grad-CAM layer, and the attribution methods.

Networks run on small clips (few frames, 32-64 pixels) where the architecture allows; MViT is built
with four small blocks of torchvision's own MViT class (the full model only accepts 16 x 224 x 224),
S3D's fixed 7x7 average pool is swapped for a global one so it runs on 32-pixel clips.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torchvision.models.video.mvit import MSBlockConfig, MViT

from videoattr import zoo
from videoattr.core.hooks import capture_layer
from videoattr.methods import GradCAM3D, IntegratedGradients, Saliency
from videoattr.methods.extremal import ExtremalPerturbation3D
from videoattr.zoo import VideoAdapter

Shape = tuple[int, int, int, int, int]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def _tiny_mvit(v2: bool) -> MViT:
    def block(c_in: int, c_out: int, pool: bool) -> MSBlockConfig:
        return MSBlockConfig(
            num_heads=1,
            input_channels=c_in,
            output_channels=c_out,
            kernel_q=[3, 3, 3] if pool else [],
            kernel_kv=[3, 3, 3],
            stride_q=[1, 2, 2] if pool else [],
            stride_kv=[1, 1, 1],
        )

    torch.manual_seed(0)
    return MViT(
        spatial_size=(64, 64),
        temporal_size=4,
        block_setting=[
            block(8, 16, True),
            block(16, 16, True),
            block(16, 32, True),
            block(32, 32, False),
        ],
        residual_pool=v2,
        residual_with_cls_embed=not v2,
        rel_pos_embed=v2,
        proj_after_attn=v2,
        num_classes=400,
    )


def _s3d() -> VideoAdapter:
    adapter = zoo.load("s3d")
    adapter.model.avgpool = nn.AdaptiveAvgPool3d(
        1
    )  # test only: the (2, 7, 7) window needs 224 pixels
    return adapter


def _hf(name: str, **fields: object) -> VideoAdapter:
    pytest.importorskip("transformers")
    config = dict(
        image_size=32,
        num_frames=4,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
        **fields,
    )
    torch.manual_seed(0)
    return zoo.load(name, config=config)


def _pytorchvideo(name: str, **options: object) -> VideoAdapter:
    pytest.importorskip("pytorchvideo")
    return zoo.load(name, **options)


CASES: dict[str, tuple[Callable[[], VideoAdapter], Shape]] = {
    "r3d_18": (lambda: zoo.load("r3d_18"), (1, 3, 4, 32, 32)),
    "mc3_18": (lambda: zoo.load("mc3_18"), (1, 3, 4, 32, 32)),
    "r2plus1d_18": (lambda: zoo.load("r2plus1d_18"), (1, 3, 4, 32, 32)),
    "s3d": (_s3d, (1, 3, 8, 32, 32)),
    "mvit_v1_b": (
        lambda: zoo.load("mvit_v1_b", model=_tiny_mvit(False), clip_len=4, size=64),
        (1, 3, 4, 64, 64),
    ),
    "mvit_v2_s": (
        lambda: zoo.load("mvit_v2_s", model=_tiny_mvit(True), clip_len=4, size=64),
        (1, 3, 4, 64, 64),
    ),
    "swin3d_t": (lambda: zoo.load("swin3d_t", clip_len=4, size=32), (1, 3, 4, 32, 32)),
    "tsm": (lambda: zoo.load("tsm", segments=4, size=32), (2, 3, 4, 32, 32)),
    "i3d": (lambda: zoo.load("i3d", clip_len=8, size=32), (1, 3, 8, 32, 32)),
    "videomae": (lambda: _hf("videomae", patch_size=8, tubelet_size=2), (2, 3, 4, 32, 32)),
    "timesformer": (lambda: _hf("timesformer", patch_size=8), (2, 3, 4, 32, 32)),
    "vivit": (lambda: _hf("vivit", tubelet_size=[2, 8, 8]), (2, 3, 4, 32, 32)),
    "x3d_xs": (lambda: _pytorchvideo("x3d_xs", size=32), (1, 3, 4, 32, 32)),
    "slowfast_r50": (
        lambda: _pytorchvideo("slowfast_r50", head_pool_kernel_sizes=((2, 1, 1), (8, 1, 1))),
        (1, 3, 8, 32, 32),
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[VideoAdapter, torch.Tensor]:
    build, shape = CASES[request.param]
    adapter = build().eval()
    return adapter, torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def test_forward_and_default_layer(case: tuple[VideoAdapter, torch.Tensor]) -> None:
    adapter, x = case
    b, _, t, h, w = x.shape
    with capture_layer(adapter, adapter.layer or "") as cap:
        logits = adapter(x)
    assert logits.dim() == 2 and logits.shape[0] == b
    assert torch.isfinite(logits).all()
    if adapter.class_names is not None:
        assert logits.shape[1] == len(adapter.class_names)
    out = cap.output
    volume = adapter.reshape(out) if adapter.reshape is not None else out
    assert volume.dim() == 5 and volume.shape[0] == b
    assert 1 <= volume.shape[2] <= t and 1 <= volume.shape[3] <= h and 1 <= volume.shape[4] <= w
    # the layer must matter for the class score: its gradient is not identically zero
    (grad,) = torch.autograd.grad(logits[:, 0].sum(), out)
    grad_volume = adapter.reshape(grad) if adapter.reshape is not None else grad
    assert grad_volume.abs().sum() > 0


def test_gradient_methods(case: tuple[VideoAdapter, torch.Tensor]) -> None:
    adapter, x = case
    b, _, t, h, w = x.shape
    maps = {
        "saliency": Saliency(adapter).attribute(x, target=1),
        "ig": IntegratedGradients(
            adapter, steps=2, baseline="black", mean=adapter.mean, std=adapter.std
        ).attribute(x, target=1),
        "gradcam": GradCAM3D(adapter, layer=adapter.layer or "", reshape=adapter.reshape).attribute(
            x, target=1
        ),
    }
    for name, m in maps.items():
        assert m.shape == (b, 1, t, h, w), name
        assert torch.isfinite(m).all(), name
    assert (maps["gradcam"] >= 0).all()
    assert maps["saliency"].abs().sum() > 0


def test_adapter_leaves_no_hooks(case: tuple[VideoAdapter, torch.Tensor]) -> None:
    adapter, _ = case
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in adapter.modules())
    assert hooks == 0


def test_extremal_perturbation(case: tuple[VideoAdapter, torch.Tensor]) -> None:
    adapter, x = case
    b, _, t, h, w = x.shape
    ep = ExtremalPerturbation3D(adapter, max_iter=2, progress=False, seed=0)
    masks = ep.attribute(x, target=1, areas=0.2)
    assert masks.shape == (b, 1, t, h, w)
    assert torch.isfinite(masks).all()
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0
