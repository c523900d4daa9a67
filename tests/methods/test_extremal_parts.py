"""The extremal perturbation engine's parts, each against an independent computation."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.ops import gaussian_blur_frames
from videoattr.core.targets import resolve_target
from videoattr.methods.extremal import (
    AreaTerm,
    MaskGenerator,
    Perturbation,
    SmoothnessTerm,
    default_sigma,
    ellipsoid_kernel,
)
from videoattr.methods.extremal.masks import canvas_covers, padded_size
from videoattr.methods.extremal.objectives import log_prob_not_target, reward


# -- mask generator ------------------------------------------------------------------------------
def brute_force_mask(
    params: torch.Tensor, shape: tuple[int, int], step: int, sigma: float
) -> torch.Tensor:
    """Padded mask of one ``(h, w)`` grid, pixel by pixel from the SPEC appendix (float64)."""
    margin = sigma
    pad = 1 + math.ceil((margin + sigma) / step)
    rad = 1 + math.ceil(sigma / step)
    n_in = [math.ceil(z / step) for z in shape]
    n_mid = [z + 2 * pad - 2 * rad for z in n_in]
    n_out = [step * z - step + 1 for z in n_mid]
    p = params.double()
    out = torch.zeros(n_out, dtype=torch.float64)
    for u in range(n_out[0]):
        for v in range(n_out[1]):
            vals = []
            for ky in range(2 * rad + 1):
                for kx in range(2 * rad + 1):
                    # Grid point (i, j) sits at pixel (M + s i, M + s j); outside the grid it is 0.
                    i = (u * n_mid[0]) // (step * n_mid[0]) + ky - pad
                    j = (v * n_mid[1]) // (step * n_mid[1]) + kx - pad
                    inside = 0 <= i < n_in[0] and 0 <= j < n_in[1]
                    pv = float(p[i, j]) if inside else 0.0
                    d = math.hypot(u - (margin + step * i), v - (margin + step * j))
                    vals.append(pv * math.exp(-2 * max(d / sigma - 0.5, 0) ** 2))
            t = torch.tensor(vals, dtype=torch.float64)
            out[u, v] = (t * torch.softmax(20 * t, 0)).sum().clamp(0, 1)
    return out


@pytest.mark.parametrize(("shape", "step", "sigma"), [((12, 10), 3, 4.0), ((9, 14), 4, 6.0)])
def test_mask_generator_matches_the_appendix_pixel_by_pixel(
    shape: tuple[int, int], step: int, sigma: float
) -> None:
    gen = MaskGenerator(shape, step, sigma)
    params = torch.rand(*gen.grid_shape, generator=torch.Generator().manual_seed(0))
    mask, padded = gen.generate(params[None, None])
    expected = brute_force_mask(params, shape, step, sigma)
    assert padded.shape == (1, 1, *expected.shape)
    torch.testing.assert_close(padded[0, 0].double(), expected, atol=2e-6, rtol=0)
    m = round(sigma)
    torch.testing.assert_close(mask[0, 0], padded[0, 0, m : m + shape[0], m : m + shape[1]])


def test_mask_generator_shapes_range_and_gradient() -> None:
    gen = MaskGenerator((56, 56), step=7, sigma=11)
    assert gen.grid_shape == (8, 8) and gen.padded_shape == (78, 78)
    params = torch.rand(3, 4, 8, 8, requires_grad=True)
    mask, padded = gen.generate(params)
    assert mask.shape == (3, 4, 56, 56) and padded.shape == (3, 4, 78, 78)
    assert mask.min() >= 0 and mask.max() <= 1
    torch.autograd.backward(mask.sum())
    assert params.grad is not None and params.grad.abs().sum() > 0
    # All-ones parameters keep the frame (mask ~ 1 inside), all-zeros remove it.
    ones, _ = gen.generate(torch.ones(1, 8, 8))
    zeros, _ = gen.generate(torch.zeros(1, 8, 8))
    assert ones.min() > 0.8 and zeros.abs().max() == 0


def test_mask_generator_rejects_a_canvas_that_does_not_cover_the_frame() -> None:
    assert not canvas_covers((56, 56), 7, 3.0)
    with pytest.raises(ValueError, match="sigma"):
        MaskGenerator((56, 56), step=7, sigma=3)
    assert padded_size(56, 7, 11) == 78


@pytest.mark.parametrize("size", [16, 32, 56, 93, 100, 112, 128, 171, 224])
def test_default_sigma_scales_with_input_and_covers_the_frame(size: int) -> None:
    sigma = default_sigma(size, size)
    assert canvas_covers((size, size), 7, sigma)
    assert sigma >= 7
    if size == 112:
        assert sigma == 11
    if size == 224:
        assert sigma == 23


# -- perturbation pyramid ------------------------------------------------------------------------
def reference_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with zero padding, written independently with a 2-D kernel."""
    if sigma == 0:
        return x
    width = math.ceil(4 * sigma)
    i = torch.arange(-width, width + 1, dtype=torch.float64)
    g = torch.exp(-((i / (math.sqrt(2) * sigma + torch.finfo(torch.float32).eps)) ** 2))
    g = g / g.sum()
    k2 = (g[:, None] * g[None, :]).to(x.dtype)
    b, c, t, h, w = x.shape
    frames = x.permute(0, 2, 1, 3, 4).reshape(-1, 1, h, w)
    out = F.conv2d(frames, k2[None, None], padding=width)
    return out.view(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def test_pyramid_levels_are_blurs_from_max_blur_to_identity() -> None:
    x = clip(b=2, t=3, h=20, w=20)
    pert = Perturbation(x, num_levels=5, max_blur=6.0)
    assert pert.pyramid.shape == (2, 3, 3, 20, 20, 5)
    for j in range(5):
        expected = reference_blur(x, (1 - j / 4) * 6.0)
        torch.testing.assert_close(pert.pyramid[..., j], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("sigma", [0.4, 2.5, 20.0])
def test_blur_equals_a_2d_convolution_with_zero_padding_in_float64(sigma: float) -> None:
    """Non-square frames, kernels narrower and (at sigma 20: 161 taps) wider than the frame."""
    x = torch.rand(2, 3, 2, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(
        gaussian_blur_frames(x, sigma), reference_blur(x, sigma), rtol=0, atol=1e-13
    )


def test_blur_of_a_clip_does_not_depend_on_the_batch() -> None:
    x = torch.rand(3, 3, 4, 17, 19, dtype=torch.float64)
    batch = gaussian_blur_frames(x, 7.0)
    for b in range(3):
        assert torch.equal(gaussian_blur_frames(x[b : b + 1].clone(), 7.0)[0], batch[b])


def test_blur_keeps_the_clip_dtype_under_autocast() -> None:
    x = torch.rand(1, 3, 2, 16, 16)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        blurred = gaussian_blur_frames(x, 3.0)
    assert blurred.dtype == torch.float32
    torch.testing.assert_close(blurred, gaussian_blur_frames(x, 3.0))


def test_apply_interpolates_linearly_between_levels() -> None:
    x = clip(b=2, t=2, h=12, w=12)
    pert = Perturbation(x, num_levels=8, max_blur=5.0)
    levels = pert.pyramid
    ones = torch.ones(2, 2, 12, 12)
    torch.testing.assert_close(pert.apply(ones), x)
    torch.testing.assert_close(pert.apply(0 * ones), levels[..., 0])
    m = torch.full((2, 2, 12, 12), (2 + 0.25) / 7)
    torch.testing.assert_close(pert.apply(m), 0.75 * levels[..., 2] + 0.25 * levels[..., 3])
    # clip_index picks the clip: two masks on clip 1
    out = pert.apply(torch.ones(2, 2, 12, 12), torch.tensor([1, 1]))
    torch.testing.assert_close(out, x[[1, 1]])


def test_apply_gradient_is_the_level_difference() -> None:
    x = clip(b=1, t=1, h=8, w=8)
    pert = Perturbation(x, num_levels=8, max_blur=4.0)
    m = torch.full((1, 1, 8, 8), 0.3, requires_grad=True)
    torch.autograd.backward(pert.apply(m).sum())
    q = 0.3 * 7
    k = math.floor(q)
    expected = 7 * (pert.pyramid[..., k + 1] - pert.pyramid[..., k]).sum(dim=1)
    assert m.grad is not None
    torch.testing.assert_close(m.grad, expected, atol=1e-5, rtol=1e-5)


def test_fade_scales_towards_zero() -> None:
    x = clip(b=1, t=2, h=8, w=8)
    pert = Perturbation(x, num_levels=3, kind="fade")
    torch.testing.assert_close(pert.apply(torch.full((1, 2, 8, 8), 0.5)), 0.5 * x)
    torch.testing.assert_close(pert.apply(torch.zeros(1, 2, 8, 8)), torch.zeros_like(x))


def test_pyramid_rejects_bad_settings() -> None:
    x = clip(b=1, t=2, h=8, w=8)
    with pytest.raises(ValueError, match="num_levels"):
        Perturbation(x, num_levels=1)
    with pytest.raises(ValueError, match="perturbation"):
        Perturbation(x, kind="noise")  # type: ignore[arg-type]


# -- energy terms --------------------------------------------------------------------------------
def test_area_term_is_zero_for_an_exact_mask_and_matches_closed_form() -> None:
    t, hp, wp = 2, 10, 10
    term = AreaTerm([0.3], t, (hp, wp), "clip")
    exact = torch.zeros(1, t * hp * wp)
    exact[0, : int(0.3 * t * hp * wp)] = 1
    assert term(exact.view(1, t, hp, wp), torch.tensor([0])).item() == 0
    # A constant mask c: mean of (c - ref)^2 = 0.7 c^2 + 0.3 (1 - c)^2.
    c = 0.4
    value = term(torch.full((1, t, hp, wp), c), torch.tensor([0])).item()
    assert value == pytest.approx(0.7 * c**2 + 0.3 * (1 - c) ** 2, rel=1e-5)


def test_frame_area_term_sees_frames_separately() -> None:
    t, hp, wp = 2, 10, 10
    # All the area in frame 0: fine for the clip term, penalised by the frame term.
    masks = torch.zeros(1, t, hp, wp)
    masks[0, 0, :, :] = 1  # half the volume in frame 0
    clip_term = AreaTerm([0.5], t, (hp, wp), "clip")(masks, torch.tensor([0]))
    frame_term = AreaTerm([0.5], t, (hp, wp), "frame")(masks, torch.tensor([0]))
    assert clip_term.item() == 0
    assert frame_term.item() == pytest.approx(0.5)


def test_smoothness_is_lower_for_one_compact_blob_than_for_scattered_mass() -> None:
    t, hp, wp = 8, 44, 44
    term = SmoothnessTerm([0.1], t, (hp, wp))
    blob = torch.zeros(1, t, hp, wp)
    blob[0, :7, 11:22, 11:22] = 1  # one kernel-sized block of mass
    g = torch.Generator().manual_seed(0)
    scattered = torch.zeros(1, t * hp * wp)
    scattered[0, torch.randperm(t * hp * wp, generator=g)[: int(blob.sum())]] = 1
    scattered = scattered.view(1, t, hp, wp)
    assert scattered.sum() == blob.sum()
    idx = torch.tensor([0])
    assert term(blob, idx) < term(scattered, idx)


def test_smoothness_top_k_and_volume_follow_the_appendix() -> None:
    term = SmoothnessTerm([0.1, 0.2], 8, (78, 78))
    assert term.volume == int(7 * 11 * 11 * 0.5236)
    assert term.top_k == [math.ceil(a * 8 * 78 * 78 / term.volume) for a in (0.1, 0.2)]
    assert term.num_responses == 2 * 7 * 7


def test_ellipsoid_kernel_is_symmetric_and_inside_the_unit_ball() -> None:
    k = ellipsoid_kernel((7, 11, 11))
    assert k.shape == (7, 11, 11)
    assert (
        torch.equal(k, k.flip(0))
        and torch.equal(k, k.flip(1))
        and torch.equal(k, k.transpose(1, 2))
    )
    assert (
        k[3, 5, 5] == 1 and k[0, 0, 0] == 0 and k[0, 5, 5] == 1
    )  # centre and poles in, corners out
    # Exact rational count of the grid points with (2i/(d-1) - 1)^2 + ... <= 1.
    dims = (7, 11, 11)
    inside = {
        (a, b, c)
        for a in range(7)
        for b in range(11)
        for c in range(11)
        if sum(
            Fraction(2 * i, d - 1) ** 2 - 2 * Fraction(2 * i, d - 1) + 1
            for i, d in zip((a, b, c), dims, strict=True)
        )
        <= 1
    }
    assert int(k.sum()) == len(inside)
    assert all(k[idx] == 1 for idx in inside)


def test_delete_reward_is_minus_log_one_minus_p() -> None:
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    target = resolve_target([0, 5], 2)
    clip_index = torch.tensor([0, 1, 1, 0])
    p = torch.softmax(logits, 1)[torch.arange(4), torch.tensor([0, 5, 5, 0])]
    torch.testing.assert_close(log_prob_not_target(logits, target, clip_index), torch.log1p(-p))
    r_pres, prob = reward(logits, target, clip_index, "preserve")
    torch.testing.assert_close(r_pres, -torch.log(p))
    torch.testing.assert_close(prob, p)
    r_del, _ = reward(logits, target, clip_index, "delete")
    torch.testing.assert_close(r_del, -torch.log1p(-p))
    dual_logits = torch.cat([logits, logits.flip(0)])
    r_dual, _ = reward(dual_logits, target, clip_index, "dual")
    p_del = torch.softmax(logits.flip(0), 1)[torch.arange(4), torch.tensor([0, 5, 5, 0])]
    torch.testing.assert_close(r_dual, -torch.log(p) - torch.log1p(-p_del))


@pytest.mark.parametrize(
    ("shape", "sigma", "coldness"),
    [((56, 56), 7.0, 20.0), ((30, 41), 9.0, 20.0), ((32, 32), 11.0, 20.0), ((28, 28), 7.0, 200.0)],
)
def test_fused_pooling_equals_the_reference_composition_in_float64(
    shape: tuple[int, int], sigma: float, coldness: float
) -> None:
    """The fused soft-max pooling computes the reference's masks and gradients (float64, 1e-12)."""
    gen = MaskGenerator(shape, 7, sigma, coldness=coldness, clamp=False)
    assert gen.cell_weight is not None  # the fused path is taken
    g = torch.Generator().manual_seed(0)
    params = torch.rand(3, 2, *gen.grid_shape, generator=g, dtype=torch.float64)
    params[0] = 1.0  # the initialisation (many equal values)
    fused = params.clone().requires_grad_(True)
    ref = params.clone().requires_grad_(True)
    _, padded = gen.generate(fused)
    expected = gen.generate_reference(ref).view_as(padded)
    torch.testing.assert_close(padded, expected, atol=1e-12, rtol=0)
    weight = torch.randn(padded.shape, generator=g, dtype=torch.float64)
    (padded * weight).sum().backward()
    (expected * weight).sum().backward()
    assert fused.grad is not None and ref.grad is not None
    torch.testing.assert_close(fused.grad, ref.grad, atol=1e-10, rtol=0)
    # and the gradient is the true one: finite differences of the fused function
    probe = params[:1, :1].clone().requires_grad_(True)
    torch.autograd.gradcheck(lambda p: gen.generate(p)[1], (probe,), eps=1e-6, atol=1e-6)


def test_reference_generator_is_available_for_bit_level_reproduction() -> None:
    fused = MaskGenerator((32, 32), 7, 11.0)
    reference = MaskGenerator((32, 32), 7, 11.0, fused=False)
    assert fused.cell_weight is not None and reference.cell_weight is None
    params = torch.rand(2, *fused.grid_shape)
    torch.testing.assert_close(
        fused.generate(params)[1], reference.generate(params)[1], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("method", ["2d", "step"])
def test_masks_do_not_depend_on_max_batch_size_in_float64(method: str) -> None:
    """How the rows are split changes nothing in float64 (float32 differs by kernel rounding only)."""
    from videoattr.methods.extremal import STEP, ExtremalPerturbation2D

    model = tiny_cnn3d().double()
    x = clip(b=2, t=8, h=32, w=32).double()
    cls = STEP if method == "step" else ExtremalPerturbation2D
    kw: dict[str, Any] = {"max_iter": 12, "progress": False, "areas": [0.1, 0.2]}
    if cls is STEP:
        kw.update(smoothness_start=2, schedule="per_iteration")
    whole = cls(model, **kw).attribute(x, target=[1, 3])
    for size in (1, 3):
        split = cls(model, max_batch_size=size, **kw).attribute(x, target=[1, 3])
        assert torch.equal(split, whole), float((split - whole).abs().max())
