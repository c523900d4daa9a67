"""Agreement with Captum (the reference implementation) on the same models and inputs.

Like with like: a forward's batch size picks the convolution kernels, and near-zero ReLU inputs amplify
the rounding of different kernels to ~1e-3 relative error on some CPUs. So every comparison runs the same
rows per forward on both sides (Captum's ``internal_batch_size`` splits whole IG steps, so our
``max_batch_size`` is a multiple of the batch with the same step-major row order), or runs in float64,
and then holds the 1e-5 bound.
"""

from __future__ import annotations

import copy
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
    steps_per_forward = (
        2  # both sides: forwards of 2 whole steps x 2 clips, steps in the same order
    )
    rows = steps_per_forward * x.shape[0]
    ours = IntegratedGradients(model, steps=6, reduction=None, max_batch_size=rows).attribute(x, 2)
    ref = (
        captum_attr.IntegratedGradients(model)
        .attribute(
            x,
            baselines=0.0,
            target=2,
            n_steps=6,
            method="riemann_left",
            internal_batch_size=rows,
        )
        .detach()
    )
    assert rel_err(ours, ref) < RTOL


def test_integrated_gradients_rows_are_step_major() -> None:
    """Our chunks hold whole steps in Captum's order (step-major), so equal batch sizes mean equal rows."""
    seen: list[Tensor] = []

    class Recorder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn3d()

        def forward(self, inp: Tensor) -> Tensor:
            seen.append(inp.detach().clone())
            out: Tensor = self.net(inp)
            return out

    x = clip(b=2, t=4, h=12, w=12, seed=2)
    model = Recorder().eval()
    IntegratedGradients(model, steps=4, max_batch_size=4).attribute(x, 1)
    ours = list(seen)
    seen.clear()
    captum_attr.IntegratedGradients(model).attribute(
        x, baselines=0.0, target=1, n_steps=4, method="riemann_left", internal_batch_size=4
    )
    assert [t.shape[0] for t in ours] == [t.shape[0] for t in seen] == [4, 4]
    for a, b in zip(ours, seen, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


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
    rows = 2 * x.shape[0]  # 2 whole steps per forward on both sides
    ours = IntegratedGradients(
        model,
        steps=8,
        rule=rule,  # type: ignore[arg-type]
        baseline=baseline,
        reduction=None,
        max_batch_size=rows,
    ).attribute(x, 2)
    ref = (
        captum_attr.IntegratedGradients(model)
        .attribute(
            x,
            baselines=baseline,
            target=2,
            n_steps=8,
            method=method,
            internal_batch_size=rows,
        )
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
    # Captum runs the copies clip-major in one forward, we run them draw-major: float64 on both sides
    # makes the comparison independent of which kernels each batch layout picks.
    model = copy.deepcopy(model).double()
    x = x.double()
    n = 2  # copies per clip: with 2 clips, a clip-major/draw-major mix-up pairs the wrong noise
    noise = 0.1 * torch.randn(
        n, *x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )

    def fixed_noise(inp: Tensor, stdev: float, partition: int) -> Tensor:
        # Captum repeats each clip `partition` times in a row: row b * n + i is copy i of clip b.
        return inp.repeat_interleave(partition, dim=0) + noise.transpose(0, 1).reshape(
            -1, *x.shape[1:]
        )

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(fixed_noise))
    ours = SmoothGrad(
        Saliency(model, reduction=None),
        n=n,
        variant=variant,  # type: ignore[arg-type]
        max_batch_size=3,
    ).attribute(x, [1, 2], noise=noise)
    nt = captum_attr.NoiseTunnel(captum_attr.Saliency(model))
    ref = nt.attribute(
        x, nt_type=nt_type, nt_samples=n, stdevs=0.1, target=[1, 2], abs=False
    ).detach()
    assert ours.dtype == torch.float64
    assert rel_err(ours, ref) < RTOL
