"""The CAM family (Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM, Score-CAM) against direct implementations.

The references below are written from the papers' formulas with explicit loops over channels and time
steps, on networks whose layer gradient is known in closed form, in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tests.helpers import TinyVideoTransformer, clip, tiny_cnn3d
from videoattr.core.ops import normalize_per_clip
from videoattr.methods import (
    GradCAM3D,
    GradCAMPlusPlus3D,
    LayerCAM3D,
    ScoreCAM3D,
    XGradCAM3D,
    build_attributor,
    method_info,
    method_names,
    resolve_method,
)
from videoattr.methods.cam import CAM3D

GRADIENT_CAMS: dict[str, type[CAM3D]] = {
    "grad_cam": GradCAM3D,
    "grad_cam_pp": GradCAMPlusPlus3D,
    "xgrad_cam": XGradCAM3D,
    "layer_cam": LayerCAM3D,
}
ALL_CAMS: dict[str, type[CAM3D]] = {**GRADIENT_CAMS, "score_cam": ScoreCAM3D}


# -- a network whose layer gradient is known in closed form ------------------------------------------------
class Quadratic(nn.Module):
    """``A = feat(x) = x`` and ``logit_k = sum(V_k * A^2) + sum(U_k * A)``, so ``dlogit_k/dA = 2 V_k A + U_k``."""

    def __init__(self, shape: tuple[int, int, int, int], classes: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.feat = nn.Identity()
        self.v = nn.Parameter(torch.randn(classes, *shape, generator=g, dtype=torch.float64))
        self.u = nn.Parameter(torch.randn(classes, *shape, generator=g, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        a = self.feat(x).unsqueeze(1)
        return (self.v * a * a + self.u * a).flatten(2).sum(-1)

    def gradient(self, x: Tensor, k: int) -> Tensor:
        """The closed-form ``dlogit_k / dA`` at ``A = x``: ``(B, D, T, H, W)``."""
        return 2 * self.v[k].detach() * x + self.u[k].detach()


def positive_clip(b: int = 2, d: int = 3, t: int = 3, h: int = 4, w: int = 5) -> Tensor:
    """Non-negative activations (as after a ReLU), so the sums of the formulas are well away from 0."""
    return clip(b=b, c=d, t=t, h=h, w=w, seed=1).double().abs() + 0.1


def groups(weights: str, t: int) -> list[list[int]]:
    """The time steps pooled together: each step alone (``"temporal"``) or all of them (``"global"``)."""
    return [[s] for s in range(t)] if weights == "temporal" else [list(range(t))]


def direct_weights(name: str, a: Tensor, g: Tensor, weights: str) -> Tensor:
    """The weight of every channel and position of one clip, from the papers' formulas, by loops.

    ``a``, ``g``: ``(D, T, H, W)``; returns ``(D, T, H, W)`` (the weight of position p in channel d).
    """
    out = torch.zeros_like(a)
    d_count, t_count = a.shape[:2]
    for d in range(d_count):
        for steps in groups(weights, t_count):
            ad, gd = a[d, steps], g[d, steps]  # the positions pooled together
            if name == "grad_cam":
                w = gd.mean()
            elif name == "grad_cam_pp":  # Chattopadhay et al. 2018, eq. 19, with exp(S)
                alpha = gd**2 / (2 * gd**2 + ad.sum() * gd**3 + 1e-6)
                alpha = torch.where(gd != 0, alpha, torch.zeros_like(alpha))
                w = (alpha * torch.relu(gd)).sum()
            elif name == "xgrad_cam":  # Fu et al. 2020
                w = (gd * ad).sum() / (ad.sum() + 1e-7)
            elif name == "layer_cam":  # Jiang et al. 2021: a weight per position
                out[d, steps] = torch.relu(gd)
                continue
            else:
                raise AssertionError(name)
            out[d, steps] = w
    return out


def direct_map(name: str, a: Tensor, g: Tensor, weights: str) -> Tensor:
    """``ReLU(sum_d w_d A_d)`` of one clip, ``(1, T, H, W)``."""
    w = direct_weights(name, a, g, weights)
    total = torch.zeros_like(a[0])
    for d in range(a.shape[0]):
        total = total + w[d] * a[d]
    return torch.relu(total).unsqueeze(0)


@pytest.mark.parametrize("weights", ["temporal", "global"])
@pytest.mark.parametrize("name", list(GRADIENT_CAMS))
def test_gradient_cams_equal_their_formulas_on_a_closed_form_network(
    name: str, weights: str
) -> None:
    x = positive_clip()
    x[0, 1, 2] = 0.0  # a time step of a channel with zero activation (and gradient u only)
    model = Quadratic(tuple(x.shape[1:]))  # type: ignore[arg-type]
    for k in range(3):
        g = model.gradient(x, k)
        expected = torch.stack([direct_map(name, x[b], g[b], weights) for b in range(2)])
        options = {} if name == "layer_cam" else {"weights": weights}
        ours = GRADIENT_CAMS[name](model, "feat", resize=False, **options).attribute(x, k)  # type: ignore[arg-type]
        assert ours.dtype == torch.float64
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
        assert float(expected.amax()) > 0  # the comparison is not between two zero maps


def test_the_variants_differ_from_each_other() -> None:
    x = positive_clip()
    model = Quadratic(tuple(x.shape[1:]))  # type: ignore[arg-type]
    maps = {n: cls(model, "feat").attribute(x, 1) for n, cls in GRADIENT_CAMS.items()}
    names = list(maps)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not torch.allclose(maps[first], maps[second]), (first, second)


def test_layer_cam_has_no_pooling_option() -> None:
    model = tiny_cnn3d()
    with pytest.raises(TypeError, match="weights"):
        LayerCAM3D(model, "2", weights="global")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="weights"):
        build_attributor("score_cam", model, layer="2", weights="global")
    with pytest.raises(ValueError, match="weights"):
        GradCAMPlusPlus3D(model, "2", weights="spatial")  # type: ignore[arg-type]


# -- Score-CAM ---------------------------------------------------------------------------------------------
def hooked_output(model: nn.Module, layer: nn.Module, x: Tensor) -> Tensor:
    outputs: list[Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, o: outputs.append(o))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return outputs[0]


def direct_score_cam(
    model: nn.Module,
    layer: nn.Module,
    x: Tensor,
    target: int,
    reshape: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Wang et al. 2020, one clip and one channel at a time: softmax of the masked clips' target logits."""
    maps = []
    for b in range(x.shape[0]):
        xb = x[b : b + 1]
        out = hooked_output(model, layer, xb)
        a = (reshape(out) if reshape is not None else out)[0]  # (D, T', H', W')
        scores = []
        for d in range(a.shape[0]):
            up = F.interpolate(a[d][None, None], size=x.shape[2:], mode="trilinear")
            mask = (up - up.min()) / (up.max() - up.min() + 1e-8)
            with torch.no_grad():
                scores.append(model(xb * mask)[0, target])
        w = torch.softmax(torch.stack(scores), dim=0)
        cam = torch.relu(sum(w[d] * a[d] for d in range(a.shape[0])))
        maps.append(F.interpolate(cam[None, None], size=x.shape[2:], mode="trilinear")[0])
    return torch.stack(maps)


def test_score_cam_equals_the_direct_loop_and_ignores_max_batch_size() -> None:
    model = tiny_cnn3d().double().eval()
    x = clip(b=2, t=4, h=8, w=8).double()
    expected = direct_score_cam(model, model[2], x, 3)
    for max_batch_size in (None, 1, 5, 16):
        ours = ScoreCAM3D(model, "2", max_batch_size=max_batch_size).attribute(x, 3)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
    assert float(expected.amax()) > 0


def test_score_cam_progress_bar_and_top_class(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("videoattr.core.progress.DELAY_S", 0.0)  # show the bar at once
    model = tiny_cnn3d().double().eval()
    x = clip(b=2, t=4, h=8, w=8).double()
    with torch.no_grad():
        top = model(x).argmax(1)
    ours = ScoreCAM3D(model, "2", progress=True, max_batch_size=7).attribute(x)  # target: top class
    assert "score_cam" in capsys.readouterr().err
    for b in range(2):
        expected = direct_score_cam(model, model[2], x[b : b + 1], int(top[b]))
        torch.testing.assert_close(ours[b : b + 1], expected, rtol=1e-10, atol=1e-12)


def test_score_cam_runs_one_forward_per_clip_and_channel() -> None:
    model = tiny_cnn3d()
    rows: list[int] = []
    handle = model[0].register_forward_hook(lambda _m, i, _o: rows.append(i[0].shape[0]))
    try:
        ScoreCAM3D(model, "2", max_batch_size=6).attribute(clip(b=3, t=4, h=8, w=8))
    finally:
        handle.remove()
    assert sum(rows) == 3 + 3 * 16  # the clean clips, then 16 masked clips per clip
    assert max(rows) <= 6


def test_hooks_of_several_layers_are_removed_after_an_exception() -> None:
    model = tiny_cnn3d()

    def explode(_m: nn.Module, _i: object, _o: object) -> None:
        raise RuntimeError("boom")

    handle = model[4].register_forward_hook(explode)
    for cls in ALL_CAMS.values():
        with pytest.raises(RuntimeError, match="boom"):
            cls(model, ["0", "2"]).attribute(clip(b=1, t=4, h=8, w=8), 0)
    handle.remove()
    assert not any(m._forward_hooks for m in model.modules())


def test_score_cam_runs_no_backward() -> None:
    model = tiny_cnn3d()
    for p in model.parameters():
        p.register_hook(lambda _g: pytest.fail("Score-CAM back-propagated"))
    ScoreCAM3D(model, "2").attribute(clip(b=1, t=4, h=8, w=8), 0)


# -- fusing several layers -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ALL_CAMS))
def test_several_layers_are_the_mean_of_normalised_single_layer_maps(name: str) -> None:
    model = tiny_cnn3d().double()
    x = clip(b=2, t=4, h=8, w=8).double()
    cls = ALL_CAMS[name]
    first = cls(model, "1").attribute(x, 2)  # (B, 8, 4, 8, 8) layer
    second = cls(model, "3").attribute(x, 2)  # (B, 16, 2, 4, 4) layer
    expected = (normalize_per_clip(first) + normalize_per_clip(second)) / 2
    fused = cls(model, ["1", "3"])
    torch.testing.assert_close(fused.attribute(x, 2), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(cls(model, [model[3], "1"]).attribute(x, 2), expected)
    assert fused.config()["layer"] == ["1", "3"]
    assert fused.replace(normalize=True).attribute(x, 2).amax() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"one .* grid"):
        cls(model, ["1", "3"], resize=False).attribute(x, 2)


def test_layer_lists_are_validated() -> None:
    model = tiny_cnn3d()
    with pytest.raises(ValueError, match="at least one layer"):
        GradCAM3D(model, [])
    with pytest.raises(ValueError, match="twice"):
        LayerCAM3D(model, ["2", model[2]])
    with pytest.raises(ValueError, match="'layer9' is not a sub-module"):
        XGradCAM3D(model, ["2", "layer9"])
    with pytest.raises(TypeError, match="layer must be"):
        GradCAM3D(model, 3)  # type: ignore[arg-type]


def test_a_layer_off_the_path_to_the_logits_is_named() -> None:
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn3d()
            self.unused = nn.Conv3d(3, 4, 1)

        def forward(self, x: Tensor) -> Tensor:
            self.unused(x)
            out: Tensor = self.net(x)
            return out

    model = TwoHeads()
    for cls in GRADIENT_CAMS.values():
        with pytest.raises(RuntimeError, match="does not depend on the output of layer 'unused'"):
            cls(model, ["net.2", "unused"]).attribute(clip(b=1, t=4, h=8, w=8), 0)


# -- transformer tokens ------------------------------------------------------------------------------------
def test_token_layers_through_a_reshape_equal_the_formulas() -> None:
    from videoattr.pipeline.methods import model_options
    from videoattr.zoo import TokenGrid, wrap

    torch.manual_seed(0)
    net = TinyVideoTransformer().double()
    tokens = TokenGrid(stride=net.tubelet)
    adapter = wrap(net, (0.5,) * 3, (0.25,) * 3, 4, 8, layer="blocks.0", tokens=tokens)
    x = clip(b=2, t=4, h=8, w=8).double()
    assert adapter.reshape is not None
    outputs: list[Tensor] = []
    handle = net.blocks[0].register_forward_hook(lambda _m, _i, o: outputs.append(o))
    score = adapter(x)[:, 1].sum()
    handle.remove()
    (grad,) = torch.autograd.grad(score, outputs[0])
    a, g = adapter.reshape(outputs[0].detach()), adapter.reshape(grad)  # (B, D, 2, 2, 2)
    assert a.shape == (2, 16, 2, 2, 2)
    for name in ALL_CAMS:
        options = model_options(name, adapter)
        assert options["layer"] == "model.blocks.0" and options["reshape"] == adapter.reshape
        attributor = build_attributor(name, adapter, **options, resize=False)
        ours = attributor.attribute(x, 1)
        if name == "score_cam":
            expected = direct_score_cam(adapter, net.blocks[0], x, 1, adapter.reshape)
            ours = attributor.replace(resize=True).attribute(x, 1)
        else:
            expected = torch.stack([direct_map(name, a[b], g[b], "temporal") for b in range(2)])
        torch.testing.assert_close(ours, expected, rtol=1e-8, atol=1e-10, msg=name)


# -- registry ----------------------------------------------------------------------------------------------
def test_registered_as_cam_methods_with_their_aliases() -> None:
    assert set(ALL_CAMS) <= set(method_names("cam"))
    for alias, name in [
        ("GradCAM++", "grad_cam_pp"),
        ("gradcampp", "grad_cam_pp"),
        ("xgradcam", "xgrad_cam"),
        ("LayerCAM", "layer_cam"),
        ("scorecam", "score_cam"),
        ("Score-CAM", "score_cam"),
    ]:
        assert resolve_method(alias) == name
    for name, cls in ALL_CAMS.items():
        info = method_info(name)
        assert info.factory is cls and info.required_options() == ("layer",)
        assert cls(tiny_cnn3d(), "2").config()["method"] == name


# -- parity with pytorch-grad-cam ------------------------------------------------------------------------
def _image_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()


class OneFrame(nn.Module):
    """A 2-D image classifier as a video model of one-frame clips ``(B, C, 1, H, W)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x[:, :, 0])
        return out


def _as_volume(t: Tensor) -> Tensor:
    return t.unsqueeze(2)  # (B, D, H', W') -> (B, D, 1, H', W')


@pytest.mark.parametrize(
    ("name", "theirs", "layers"),
    [
        ("grad_cam", "GradCAM", ["3"]),
        ("grad_cam_pp", "GradCAMPlusPlus", ["3"]),
        ("xgrad_cam", "XGradCAM", ["3"]),
        ("layer_cam", "LayerCAM", ["3"]),
        ("score_cam", "ScoreCAM", ["3"]),
        ("grad_cam", "GradCAM", ["1", "3"]),
        ("layer_cam", "LayerCAM", ["1", "3"]),
    ],
)
def test_matches_pytorch_grad_cam_on_an_image_network(
    name: str, theirs: str, layers: list[str]
) -> None:
    pgc = pytest.importorskip("pytorch_grad_cam")
    targets_mod = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    net = _image_net()
    images = clip(b=2, t=1, h=10, w=12, seed=4)[:, :, 0]  # (2, 3, 10, 12)
    classes = [1, 3]
    cam_cls = getattr(pgc, theirs)
    with cam_cls(model=net, target_layers=[net[int(i)] for i in layers]) as reference:
        if name == "score_cam":
            reference.batch_size = 5
        expected = reference(
            input_tensor=images,
            targets=[targets_mod.ClassifierOutputTarget(c) for c in classes],
        )
    video = OneFrame(net)
    spec = [f"net.{i}" for i in layers]
    ours = ALL_CAMS[name](
        video, spec if len(spec) > 1 else spec[0], reshape=_as_volume, normalize=True
    ).attribute(images.unsqueeze(2), classes)
    assert ours.shape == (2, 1, 1, 10, 12)
    assert float(expected.max()) > 0.5  # normalised maps that are not all zero
    torch.testing.assert_close(ours[:, 0, 0], torch.as_tensor(expected), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "theirs"),
    [("grad_cam", "GradCAM"), ("grad_cam_pp", "GradCAMPlusPlus"), ("xgrad_cam", "XGradCAM")],
)
def test_global_weights_match_pytorch_grad_cam_on_a_3d_network(name: str, theirs: str) -> None:
    pgc = pytest.importorskip("pytorch_grad_cam")
    targets_mod = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    model = tiny_cnn3d().eval()
    x = clip(b=2, t=3, h=5, w=6, seed=2)
    with getattr(pgc, theirs)(model=model, target_layers=[model[1]]) as reference:
        expected = reference(
            input_tensor=x, targets=[targets_mod.ClassifierOutputTarget(c) for c in (0, 2)]
        )
    assert float(expected.max()) > 0.5
    ours = ALL_CAMS[name](model, "1", weights="global", normalize=True).attribute(x, [0, 2])  # type: ignore[call-arg]
    torch.testing.assert_close(ours[:, 0], torch.as_tensor(expected), rtol=1e-4, atol=1e-4)
