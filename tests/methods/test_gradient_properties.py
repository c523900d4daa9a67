"""Properties of the gradient family checked against independent references."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers import TinyVideoTransformer, clip, tiny_cnn3d
from videoattr.methods import GradCAM3D, IntegratedGradients, Saliency, SmoothGrad
from videoattr.methods.integrated_gradients import integration_points


def test_saliency_matches_finite_differences() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.LazyLinear(4)
    ).double()
    x = torch.randn(1, 2, 3, 4, 4, dtype=torch.float64)
    model(x)  # materialise the lazy layer
    grad = Saliency(model, reduction=None).attribute(x, 1)
    eps = 1e-6
    fd = torch.zeros_like(x)
    for i in range(x.numel()):
        d = torch.zeros(x.numel(), dtype=torch.float64)
        d[i] = eps
        d = d.view_as(x)
        with torch.no_grad():
            fd.view(-1)[i] = (model(x + d)[0, 1] - model(x - d)[0, 1]) / (2 * eps)
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)


def test_polarity_is_applied_before_reduction() -> None:
    model = tiny_cnn3d()
    x = clip(b=1, t=4, h=8, w=8)
    raw = Saliency(model, reduction=None).attribute(x, 0)
    pos = Saliency(model, polarity="positive").attribute(x, 0)
    neg = Saliency(model, polarity="negative").attribute(x, 0)
    absolute = Saliency(model, polarity="absolute", reduction="max").attribute(x, 0)
    torch.testing.assert_close(pos, raw.clamp(min=0).sum(1, keepdim=True))
    torch.testing.assert_close(neg, (-raw).clamp(min=0).sum(1, keepdim=True))
    torch.testing.assert_close(absolute, raw.abs().amax(1, keepdim=True))
    gxi = Saliency(model, multiply_by_inputs=True, reduction="mean").attribute(x, 0)
    torch.testing.assert_close(gxi, (raw * x).mean(1, keepdim=True))


def test_integration_rules_integrate_polynomials() -> None:
    # int_0^1 a^2 da = 1/3: Gauss-Legendre is exact, the others converge at their known orders.
    f = lambda a: a**2  # noqa: E731
    for rule, tol in [
        ("gausslegendre", 1e-12),
        ("trapezoid", 1e-3),
        ("middle", 1e-3),
        ("left", 0.02),
        ("right", 0.02),
    ]:
        a, w = integration_points(30, rule)  # type: ignore[arg-type]
        assert abs(float((w * f(a)).sum()) - 1 / 3) < tol, rule
        assert abs(float(w.sum()) - 1) < 1e-12


def test_ig_completeness_gap_shrinks_with_steps() -> None:
    model = tiny_cnn3d(num_classes=3)
    x = clip(b=2, t=4, h=12, w=12, seed=2)
    gaps = []
    for steps in (2, 8, 64):
        _, gap = IntegratedGradients(model, steps=steps, rule="left").attribute(
            x, 1, return_gap=True
        )
        gaps.append(float(gap.abs().max()))
    assert gaps[2] < gaps[1] < gaps[0]
    _, gap = IntegratedGradients(model, steps=32, rule="gausslegendre").attribute(
        x, 1, return_gap=True
    )
    assert float(gap.abs().max()) < gaps[2]


def test_ig_black_baseline_and_max_batch_size_invariance() -> None:
    model = tiny_cnn3d()
    x = clip(b=3, t=4, h=8, w=8)
    mean, std = (0.4, 0.4, 0.4), (0.2, 0.25, 0.2)
    a = IntegratedGradients(model, steps=5, baseline="black", mean=mean, std=std).attribute(x)
    b = IntegratedGradients(
        model, steps=5, baseline="black", mean=mean, std=std, max_batch_size=2
    ).attribute(x)
    x0 = (-torch.tensor(mean) / torch.tensor(std)).view(1, 3, 1, 1, 1).expand_as(x)
    c = IntegratedGradients(model, steps=5, baseline=x0.clone()).attribute(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="mean and std"):
        IntegratedGradients(model, baseline="black")


def test_smoothgrad_is_seeded_and_batch_invariant() -> None:
    model = tiny_cnn3d()
    x = clip(b=2, t=4, h=8, w=8)
    a = SmoothGrad(Saliency(model), n=5, seed=3).attribute(x, 1)
    b = SmoothGrad(Saliency(model), n=5, seed=3, max_batch_size=3).attribute(x, 1)
    c = SmoothGrad(Saliency(model), n=5, seed=4).attribute(x, 1)
    again = SmoothGrad(Saliency(model), n=5, seed=3).attribute(x, 1)
    torch.testing.assert_close(a, again, rtol=0, atol=0)  # the same seed repeats exactly
    torch.testing.assert_close(a, b)  # whatever the batching
    assert not torch.allclose(a, c)  # another seed draws other noise


def test_smoothgrad_wraps_integrated_gradients() -> None:
    model = tiny_cnn3d()
    x = clip(b=2, t=4, h=8, w=8)
    ig = IntegratedGradients(model, steps=3)
    sg = SmoothGrad(ig, n=2, stdev_spread=0.0).attribute(x, 1)
    torch.testing.assert_close(sg, ig.attribute(x, 1), rtol=1e-5, atol=1e-7)


def test_smoothgrad_noise_scale_follows_clip_range() -> None:
    # variance of a linear model's gradient is 0; variance of grad x input grows with the noise.
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 4 * 4, 2))
    x = clip(b=1, t=2, h=4, w=4)
    var = SmoothGrad(Saliency(model, multiply_by_inputs=True), n=200, variant="variance").attribute(
        x, 0
    )
    w = model[1].weight[0].detach().view(1, 3, 2, 4, 4)
    s = 0.15 * float(x.max() - x.min())
    expected = (w**2 * s**2).sum(1, keepdim=True)
    rel = float((var.mean() - expected.mean()).abs() / expected.mean())
    assert rel < 0.15


def test_gradcam_layer_whose_time_does_not_divide_clip_length() -> None:
    model = tiny_cnn3d()
    x = clip(b=2, t=7, h=9, w=11)
    cam = GradCAM3D(model, "2").attribute(x, 1)  # T' = 4 does not divide T = 7
    assert cam.shape == (2, 1, 7, 9, 11)
    assert torch.isfinite(cam).all() and (cam >= 0).all()


def test_gradcam_temporal_vs_global_weights_by_hand() -> None:
    model = tiny_cnn3d()
    x = clip(b=1, t=4, h=8, w=8)
    layer = model[2]
    acts: list[torch.Tensor] = []
    h = layer.register_forward_hook(lambda m, i, o: acts.append(o))
    score = model(x)[0, 2]
    h.remove()
    (g,) = torch.autograd.grad(score, acts[0])
    a = acts[0].detach()
    for weights, dims in (("temporal", (3, 4)), ("global", (2, 3, 4))):
        ref = torch.relu((g.mean(dims, keepdim=True) * a).sum(1, keepdim=True))
        ours = GradCAM3D(model, layer, weights=weights, resize=False).attribute(x, 2)  # type: ignore[arg-type]
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)


def test_gradcam_normalises_each_clip_independently() -> None:
    model = tiny_cnn3d()
    x = clip(b=2, t=4, h=8, w=8)
    x[1] *= 10
    cam = GradCAM3D(model, "2", normalize=True).attribute(x, 0)
    for b in range(2):
        assert float(cam[b].max()) == pytest.approx(1.0) and float(cam[b].min()) == pytest.approx(
            0.0
        )
    single = GradCAM3D(model, "2", normalize=True).attribute(x[:1], 0)
    torch.testing.assert_close(cam[:1], single)


def test_gradcam_token_reshape_for_transformers() -> None:
    torch.manual_seed(0)
    model = TinyVideoTransformer()
    x = clip(b=2, t=4, h=8, w=8)

    def tokens_to_volume(tokens: torch.Tensor) -> torch.Tensor:
        t, h, w = model.grid
        return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, t, h, w)

    cam = GradCAM3D(model, "blocks.0", reshape=tokens_to_volume).attribute(x, 1)
    assert cam.shape == (2, 1, 4, 8, 8) and torch.isfinite(cam).all()
    with pytest.raises(ValueError, match="reshape"):
        GradCAM3D(model, "blocks.0").attribute(x, 1)


def test_two_calls_in_a_row_do_not_share_activations() -> None:
    model = tiny_cnn3d()
    x1, x2 = clip(b=1, seed=1, t=4, h=8, w=8), clip(b=1, seed=2, t=4, h=8, w=8)
    cam = GradCAM3D(model, "2")
    first_alone = cam.attribute(x1, 1)
    second_alone = GradCAM3D(model, "2").attribute(x2, 1)
    cam.attribute(x1, 1)
    second_after = cam.attribute(x2, 1)
    torch.testing.assert_close(second_after, second_alone)
    torch.testing.assert_close(cam.attribute(x1, 1), first_alone)
    assert not torch.allclose(first_alone, second_alone)
    assert not model[2]._forward_hooks
