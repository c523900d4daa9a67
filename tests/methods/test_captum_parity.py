"""Agreement with Captum (the reference implementation) on the same models and inputs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.methods import GradCAM3D, IntegratedGradients, Saliency, SmoothGrad

captum_attr = pytest.importorskip(
    "captum.attr", reason="captum is a test dependency (pip install -e '.[dev]')"
)

RTOL = 1e-5


def rel_err(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _randomize_norms(model: nn.Module) -> nn.Module:
    """Give BatchNorm layers random affine parameters and statistics, as a trained model has.

    At torchvision's initialisation (no biases, identity BatchNorm) the network is positively
    homogeneous and many pre-activations are exactly zero, so float rounding flips ReLUs at random and
    gradients differ by ~1% between two correct implementations; random statistics avoid that.
    """
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=g)
            m.bias.data = 0.2 * torch.randn(c, generator=g)
            m.running_mean = 0.1 * torch.randn(c, generator=g)
            m.running_var = 0.5 + torch.rand(c, generator=g)
    return model


def _r3d() -> nn.Module:
    from torchvision.models.video import r3d_18

    torch.manual_seed(0)
    return _randomize_norms(r3d_18(num_classes=7)).eval()


def _r2plus1d() -> nn.Module:
    from torchvision.models.video import r2plus1d_18

    torch.manual_seed(0)
    return _randomize_norms(r2plus1d_18(num_classes=7)).eval()


def _tiny() -> nn.Module:
    return tiny_cnn3d().eval()


MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "tiny": (_tiny, "2"),
    "r3d_18": (_r3d, "layer3"),
    "r2plus1d_18": (_r2plus1d, "layer3"),
}


_CACHE: dict[str, tuple[nn.Module, str, Tensor]] = {}


@pytest.fixture(scope="module", params=list(MODELS))
def model_case(request: pytest.FixtureRequest) -> tuple[nn.Module, str, Tensor]:
    if request.param not in _CACHE:
        build, layer = MODELS[request.param]
        _CACHE[request.param] = (build(), layer, clip(b=2, t=4, h=24, w=24, seed=1))
    return _CACHE[request.param]


@pytest.fixture(scope="module")
def tiny_case() -> tuple[nn.Module, str, Tensor]:
    return _tiny(), "2", clip(b=2, t=6, h=20, w=20, seed=1)


@pytest.mark.parametrize("multiply", [False, True])
def test_saliency_matches_captum(model_case: tuple[nn.Module, str, Tensor], multiply: bool) -> None:
    model, _, x = model_case
    target = [1, 4]
    ours = Saliency(model, multiply_by_inputs=multiply, reduction=None).attribute(x, target)
    ref_cls = captum_attr.InputXGradient if multiply else captum_attr.Saliency
    kwargs = {} if multiply else {"abs": False}
    ref = ref_cls(model).attribute(x.clone().requires_grad_(), target=target, **kwargs).detach()
    assert rel_err(ours, ref) < RTOL


def test_integrated_gradients_left_rule_matches_captum(
    model_case: tuple[nn.Module, str, Tensor],
) -> None:
    model, _, x = model_case
    ours = IntegratedGradients(model, steps=6, reduction=None, max_batch_size=5).attribute(x, 2)
    ref = (
        captum_attr.IntegratedGradients(model)
        .attribute(x, baselines=0.0, target=2, n_steps=6, method="riemann_left")
        .detach()
    )
    assert rel_err(ours, ref) < RTOL


@pytest.mark.parametrize(
    "rule,method",
    [
        ("left", "riemann_left"),
        ("gausslegendre", "gausslegendre"),
        ("trapezoid", "riemann_trapezoid"),
        ("middle", "riemann_middle"),
        ("right", "riemann_right"),
    ],
)
def test_integrated_gradients_rules_match_captum(
    tiny_case: tuple[nn.Module, str, Tensor], rule: str, method: str
) -> None:
    model, _, x = tiny_case
    baseline = torch.full_like(x, -0.5)
    ours = IntegratedGradients(
        model,
        steps=8,
        rule=rule,
        baseline=baseline,
        reduction=None,
        max_batch_size=5,  # type: ignore[arg-type]
    ).attribute(x, 2)
    ref = (
        captum_attr.IntegratedGradients(model)
        .attribute(x, baselines=baseline, target=2, n_steps=8, method=method)
        .detach()
    )
    if rule == "trapezoid":
        # Captum's trapezoid weights are 1/n with halved ends, summing to (n-1)/n; ours are the
        # trapezoid rule's 1/(n-1) with halved ends (summing to 1) on the same points.
        ref = ref * 8 / 7
    assert rel_err(ours, ref) < RTOL


@pytest.mark.parametrize("use_layer_module", [False, True])
def test_gradcam_global_matches_captum_layergradcam(
    model_case: tuple[nn.Module, str, Tensor], use_layer_module: bool
) -> None:
    model, layer_name, x = model_case
    layer = dict(model.named_modules())[layer_name]
    ours = GradCAM3D(model, layer if use_layer_module else layer_name, weights="global").attribute(
        x, [0, 3]
    )
    lgc = captum_attr.LayerGradCam(model, layer)
    cam = lgc.attribute(x, target=[0, 3], relu_attributions=True).detach()
    ref = captum_attr.LayerAttribution.interpolate(
        cam, tuple(x.shape[2:]), interpolate_mode="trilinear"
    )
    assert ours.shape == (2, 1, *x.shape[2:])
    assert rel_err(ours, ref) < RTOL


@pytest.mark.parametrize(
    "variant,nt_type",
    [("mean", "smoothgrad"), ("square", "smoothgrad_sq"), ("variance", "vargrad")],
)
def test_smoothgrad_matches_captum_noise_tunnel(
    model_case: tuple[nn.Module, str, Tensor],
    variant: str,
    nt_type: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, _, x = model_case
    n = 4
    noise = 0.1 * torch.randn(n, *x.shape, generator=torch.Generator().manual_seed(3))

    def fixed_noise(inp: Tensor, stdev: float, partition: int) -> Tensor:
        # Captum repeats each clip `partition` times in a row: row b * n + i is copy i of clip b.
        return inp.repeat_interleave(partition, dim=0) + noise.transpose(0, 1).reshape(
            -1, *x.shape[1:]
        )

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(fixed_noise))
    ours = SmoothGrad(
        Saliency(model, reduction=None), n=n, variant=variant, max_batch_size=3
    ).attribute(  # type: ignore[arg-type]
        x, [1, 2], noise=noise
    )
    nt = captum_attr.NoiseTunnel(captum_attr.Saliency(model))
    ref = nt.attribute(
        x, nt_type=nt_type, nt_samples=n, stdevs=0.1, target=[1, 2], abs=False
    ).detach()
    assert rel_err(ours, ref) < 1e-4 if variant == "variance" else rel_err(ours, ref) < RTOL
