"""Adapter mechanics: layouts, outputs, token reshape, frame sampling, preprocessing, registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.models.video as tvv
from torch import Tensor, nn

from tests.helpers import tiny_cnn3d
from videoattr import io, zoo
from videoattr.zoo import FrameSampling, TokenGrid, VideoAdapter, default_output
from videoattr.zoo.torchvision_models import preprocessing

TV_WEIGHTS = {
    "r3d_18": tvv.R3D_18_Weights,
    "mc3_18": tvv.MC3_18_Weights,
    "r2plus1d_18": tvv.R2Plus1D_18_Weights,
    "s3d": tvv.S3D_Weights,
    "mvit_v1_b": tvv.MViT_V1_B_Weights,
    "mvit_v2_s": tvv.MViT_V2_S_Weights,
    "swin3d_t": tvv.Swin3D_T_Weights,
    "swin3d_s": tvv.Swin3D_S_Weights,
    "swin3d_b": tvv.Swin3D_B_Weights,
}


def _frames(t: int = 5, h: int = 150, w: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


class FrameNet(nn.Module):
    """A 2-D per-frame classifier ``(N, C, H, W) -> (N, K)``."""

    def __init__(self, k: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, k)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))
        return out


class BTCHWNet(nn.Module):
    """Takes ``(B, T, C, H, W)`` and returns a ``ModelOutput``-like object."""

    class Out:
        def __init__(self, logits: Tensor) -> None:
            self.logits = logits

    def __init__(self) -> None:
        super().__init__()
        self.inner = tiny_cnn3d()

    def forward(self, x: Tensor) -> Out:
        return self.Out(self.inner(x.permute(0, 2, 1, 3, 4)))


# -- layouts and outputs -----------------------------------------------------------------------------
def test_wrap_bcthw_is_the_model_itself() -> None:
    net = tiny_cnn3d()
    adapter = zoo.wrap(net, mean=(0.5,) * 3, std=(0.25,) * 3, clip_len=4, size=16, layer="2")
    x = torch.randn(2, 3, 4, 16, 16)
    assert torch.equal(adapter(x), net(x))
    assert adapter.layer == "model.2" and adapter.reshape is None
    assert isinstance(adapter, nn.Module)


def test_wrap_btchw_permutes_and_extracts_logits() -> None:
    net = BTCHWNet()
    adapter = zoo.wrap(net, mean=(0.5,) * 3, std=(0.25,) * 3, clip_len=4, size=16, layout="BTCHW")
    x = torch.randn(2, 3, 4, 16, 16)
    torch.testing.assert_close(adapter(x), net.inner(x))


def test_wrap_frames_in_batch_averages_frame_logits_and_reshapes_layer() -> None:
    net = FrameNet()
    adapter = zoo.wrap(
        net, mean=(0.5,) * 3, std=(0.25,) * 3, clip_len=3, size=8, layer="conv", layout="(BT)CHW"
    )
    x = torch.randn(2, 3, 3, 8, 8)
    expected = torch.stack([net(x[b].transpose(0, 1)).mean(0) for b in range(2)])
    torch.testing.assert_close(adapter(x), expected)
    # the (B*T, D, H, W) layer output becomes (B, D, T, H, W) with frame t of clip b at [b, :, t]
    feats = torch.relu(net.conv(x.permute(0, 2, 1, 3, 4).reshape(6, 3, 8, 8)))
    assert adapter.reshape is not None
    vol = adapter.reshape(feats)
    assert vol.shape == (2, 8, 3, 8, 8)
    torch.testing.assert_close(vol[1, :, 2], feats[1 * 3 + 2])


def test_default_output_forms() -> None:
    t = torch.ones(2, 3)
    assert default_output(t) is t
    assert default_output((t, None)) is t
    assert default_output({"logits": t}) is t
    with pytest.raises(TypeError, match="cannot find logits"):
        default_output("nope")


def test_adapter_validates_arguments() -> None:
    net = tiny_cnn3d()
    with pytest.raises(ValueError, match="layout"):
        VideoAdapter(
            net, clip_len=4, size=8, mean=(0,) * 3, std=(1,) * 3, layer=None, layout="BHWC"
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="std must be positive"):
        VideoAdapter(net, clip_len=4, size=8, mean=(0,) * 3, std=(1, 0, 1), layer=None)
    with pytest.raises(ValueError, match="3 values"):
        VideoAdapter(net, clip_len=4, size=8, mean=(0,) * 2, std=(1,) * 3, layer=None)
    with pytest.raises(ValueError, match="not a sub-module"):
        VideoAdapter(net, clip_len=4, size=8, mean=(0,) * 3, std=(1,) * 3, layer="model.layer4")
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        zoo.wrap(net, (0,) * 3, (1,) * 3, 4, 8)(torch.randn(3, 4, 8, 8))


# -- token reshape -------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["thw", "hwt"])
def test_token_grid_inverts_the_token_layout(order: str) -> None:
    b, d, t, h, w = 2, 5, 2, 3, 4
    vol = torch.randn(b, d, t, h, w)
    perm = (0, 2, 3, 4, 1) if order == "thw" else (0, 3, 4, 2, 1)
    tokens = vol.permute(*perm).reshape(b, t * h * w, d)
    tokens = torch.cat([torch.zeros(b, 1, d), tokens], dim=1)  # a class token first
    grid = TokenGrid((2, 8, 8), prefix_tokens=1, order=order)  # type: ignore[arg-type]
    assert grid.grid((4, 24, 32)) == (t, h, w)
    torch.testing.assert_close(grid.to_volume(tokens, (4, 24, 32)), vol)
    with pytest.raises(ValueError, match="cannot arrange"):
        grid.to_volume(tokens, (4, 32, 32))


def test_token_grid_frames_in_batch_and_channels_last() -> None:
    b, d, t, h, w = 2, 5, 3, 2, 2
    vol = torch.randn(b, d, t, h, w)
    tokens = vol.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, d)
    tokens = torch.cat([torch.zeros(b * t, 1, d), tokens], dim=1)
    grid = TokenGrid((1, 4, 4), prefix_tokens=1, frames_in_batch=True)
    torch.testing.assert_close(grid.to_volume(tokens, (3, 8, 8)), vol)
    swin = TokenGrid((2, 32, 32), channels_last=True)
    torch.testing.assert_close(swin.to_volume(vol.permute(0, 2, 3, 4, 1), (6, 64, 64)), vol)


# -- sampling and preprocessing -------------------------------------------------------------------------
def test_strided_sampling_is_the_reference_implementations() -> None:
    s = FrameSampling("strided", 16)
    assert s.indices(50) == list(range(3, 49, 3))  # stride 3 from 0, the last 16 kept
    assert s.indices(16) == list(range(16))
    # One sampler: the adapter's sampling is io.sample_indices.
    for n in (16, 17, 35, 50, 123):
        assert s.indices(n) == io.sample_indices(n, 16, "strided")
    # Short videos raise (naming the count) instead of repeating frames.
    with pytest.raises(io.VideoTooShortError, match=r"v\.mp4 has 5 frames"):
        s.indices(5, source="v.mp4")
    with pytest.raises(ValueError, match="0 frames"):
        s.indices(0)


def test_frame_sampling_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="'stride' is now 'strided'"):
        FrameSampling("stride", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sampling must be one of"):
        FrameSampling("random", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="FrameSampling kind"):
        FrameSampling("uniform", 4)  # type: ignore[arg-type]


def test_segment_sampling_takes_segment_centres() -> None:
    s = FrameSampling("segments", 4)
    assert s.indices(40) == [5, 15, 25, 35]
    assert s.indices(10) == [1, 3, 6, 8]  # floor(2.5 * (i + 1/2))
    assert s.indices(10) == io.sample_indices(10, 4, "segments")
    with pytest.raises(io.VideoTooShortError, match="has 2 frames"):
        s.indices(2)


@pytest.mark.parametrize("name", sorted(TV_WEIGHTS))
def test_preprocess_matches_torchvision_transforms(name: str) -> None:
    frames = _frames()
    reference = TV_WEIGHTS[name].DEFAULT.transforms()(torch.from_numpy(frames).permute(0, 3, 1, 2))
    clip = preprocessing(name)(frames)
    assert clip.shape == (1, *reference.shape)
    torch.testing.assert_close(clip[0], reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["r2plus1d_18", "s3d", "mvit_v2_s"])
def test_one_preprocessing_matches_weights_transforms_on_a_resized_frame(name: str) -> None:
    # 240x320 frames with detail that every resize changes (a constant frame could not fail).
    frames = _frames(t=2, h=240, w=320, seed=3)
    chw = torch.from_numpy(frames).permute(0, 3, 1, 2)
    reference = TV_WEIGHTS[name].DEFAULT.transforms()(chw)
    prep = preprocessing(name)
    adapter = zoo.load(name)
    assert adapter.preprocessing == prep
    ours = io.to_clip(
        frames, prep.mean, prep.std, size=prep.resize, crop=prep.crop, antialias=False
    )
    torch.testing.assert_close(ours[0], reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(adapter.preprocess(frames)[0], reference, rtol=0, atol=1e-6)
    # On frames every preset shrinks, antialiasing is far from the reference: the check can fail.
    big = _frames(t=2, h=480, w=640, seed=4)
    reference = TV_WEIGHTS[name].DEFAULT.transforms()(torch.from_numpy(big).permute(0, 3, 1, 2))
    torch.testing.assert_close(adapter.preprocess(big)[0], reference, rtol=0, atol=1e-6)
    smooth = io.to_clip(big, prep.mean, prep.std, size=prep.resize, crop=prep.crop)
    assert float((smooth[0] - reference).abs().max()) > 0.1


def test_torchvision_adapter_uses_torchvision_preprocessing() -> None:
    adapter = zoo.load("r2plus1d_18")
    assert adapter.preprocessing == preprocessing("r2plus1d_18")
    assert (adapter.clip_len, adapter.size) == (16, (112, 112))
    frames = _frames()
    reference = tvv.R2Plus1D_18_Weights.DEFAULT.transforms()(
        torch.from_numpy(frames).permute(0, 3, 1, 2)
    )
    torch.testing.assert_close(adapter.preprocess(frames)[0], reference, rtol=0, atol=1e-6)
    assert adapter.class_names == list(tvv.R2Plus1D_18_Weights.DEFAULT.meta["categories"])
    assert adapter.mean == (0.43216, 0.394666, 0.37645)


def test_preprocess_samples_and_accepts_tensors() -> None:
    adapter = zoo.wrap(tiny_cnn3d(), (0.5,) * 3, (0.25,) * 3, clip_len=4, size=16, resize=(18, 20))
    frames = _frames(t=10, h=30, w=40)
    clip = adapter.preprocess(torch.from_numpy(frames), sample=True)
    assert clip.shape == (1, 3, 4, 16, 16) and clip.dtype == torch.float32
    np_clip = adapter.preprocess(frames[[2, 4, 6, 8]])  # stride 2 from 0, last 4 kept
    torch.testing.assert_close(clip, np_clip)
    back = adapter.denormalize(clip)  # one denormalize: uint8 frames, as io.denormalize returns
    assert back.dtype == torch.uint8 and back.shape == (1, 4, 16, 16, 3)
    assert torch.equal(back, io.denormalize(clip, (0.5,) * 3, (0.25,) * 3))
    assert torch.equal(adapter.denormalize(io.to_clip(back[0], adapter.mean, adapter.std)), back)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        adapter.preprocess(frames[..., :2])


# -- registry ---------------------------------------------------------------------------------------------
def test_available_lists_every_family_with_requirements() -> None:
    by_name = {e.name: e for e in zoo.available()}
    for name in [
        *TV_WEIGHTS,
        "tsm",
        "i3d",
        "videomae",
        "timesformer",
        "vivit",
        "demo",
        "x3d_s",
        "slowfast_r50",
    ]:
        assert name in by_name, name
        assert by_name[name].description and by_name[name].weights
    assert by_name["videomae"].requires == ("transformers",)
    assert by_name["x3d_s"].requires == ("pytorchvideo",)
    assert by_name["r2plus1d_18"].requires == ()
    assert "needs: transformers" in str(by_name["videomae"]) and "core only" in str(by_name["tsm"])


def test_load_unknown_and_missing_extra() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet9000'.*r2plus1d_18"):
        zoo.load("resnet9000")
    missing = [e for e in zoo.available() if not e.installed()]
    for entry in missing:
        with pytest.raises(ImportError, match=entry.requires[0]):
            zoo.load(entry.name)


def test_register_refuses_a_taken_name_unless_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    from videoattr.zoo import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # undone after the test
    demo = zoo.get_entry("demo")

    def build(weights: object = None, num_classes: object = None) -> VideoAdapter:
        return demo.builder()

    first = zoo.ZooEntry("tiny_test", build, "a test entry", aliases=("tiny_alias",))
    assert zoo.register(first) is first and zoo.get_entry("tiny_alias") is first
    second = zoo.ZooEntry("tiny_test", build, "another test entry")
    for taken in (second, zoo.ZooEntry("other", build, "clash", aliases=("tiny_alias",))):
        with pytest.raises(ValueError, match="is already registered for 'tiny_test'") as err:
            zoo.register(taken)
        assert "\n" not in str(err.value) and "replace=True" in str(err.value)
    with pytest.raises(ValueError, match="'demo' is already registered for 'demo'"):
        zoo.register(zoo.ZooEntry("demo", build, "not the demo"))
    assert zoo.get_entry("tiny_test") is first and zoo.get_entry("demo") is demo  # nothing changed

    assert zoo.register(second, replace=True) is second
    assert zoo.get_entry("tiny_test") is second
    with pytest.raises(
        ValueError, match="unknown model 'tiny_alias'"
    ):  # the old entry's alias went
        zoo.get_entry("tiny_alias")
    assert [e for e in zoo.entries() if e.name == "tiny_test"] == [second]


def test_register_matches_names_like_the_method_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from videoattr.core.validation import normalize_name
    from videoattr.zoo import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # undone after the test
    demo = zoo.get_entry("demo")

    def build(weights: object = None, num_classes: object = None) -> VideoAdapter:
        return demo.builder()

    entry = zoo.register(zoo.ZooEntry("Tiny-Net", build, "a test entry", aliases=("Tiny Alias",)))
    for name in ("Tiny-Net", "tiny-net", "TINY_NET", "tiny net", "tiny_alias", "TINY-ALIAS"):
        assert zoo.get_entry(name) is entry
        assert normalize_name(name) in {"tiny_net", "tiny_alias"}  # the method registry's keys
    for clash in ("tiny_net", "TINY-NET"):
        with pytest.raises(ValueError, match="'tiny_net' is already registered for 'Tiny-Net'"):
            zoo.register(zoo.ZooEntry(clash, build, "the same name in other case"))
    assert zoo.get_entry("demo_transformer") is zoo.get_entry("demo-transformer")
    assert [e.name for e in zoo.entries()].count("Tiny-Net") == 1


def test_demo_entry_uses_the_demo_module() -> None:
    from videoattr import demo_model

    adapter = zoo.load("demo")
    assert adapter.layer == f"model.{demo_model.GRADCAM_LAYER}" == "model.features.block4"
    assert adapter.class_names == list(demo_model.CLASS_NAMES)
    assert (adapter.clip_len, adapter.size) == (demo_model.CLIP_LEN, (56, 56))
    assert (adapter.mean, adapter.std) == (tuple(demo_model.MEAN), tuple(demo_model.STD))
    x = torch.randn(1, 3, 16, 56, 56)
    torch.testing.assert_close(adapter(x), demo_model.load_demo_model()(x))
    with pytest.raises(ValueError, match="fixed bundled weights"):
        zoo.load("demo", weights="x.pt")


def test_adapter_deep_copies_with_its_reshape() -> None:
    import copy

    adapter = zoo.wrap(
        FrameNet(), (0.5,) * 3, (0.25,) * 3, clip_len=3, size=8, layer="conv", layout="(BT)CHW"
    )
    clone = copy.deepcopy(adapter)
    x = torch.randn(2, 3, 3, 8, 8)
    torch.testing.assert_close(clone(x), adapter(x))
    clone(torch.randn(1, 3, 5, 8, 8))  # the clone's reshape follows the clone's last forward only
    assert clone.reshape is not None and adapter.reshape is not None
    assert clone.reshape(torch.zeros(5, 8, 2, 2)).shape == (1, 8, 5, 2, 2)
    assert adapter.reshape(torch.zeros(6, 8, 2, 2)).shape == (2, 8, 3, 2, 2)
