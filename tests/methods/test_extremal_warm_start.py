"""The warm start of the mask parameters from the clip's gradient map (``warm_start="gradient"``)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import tiny_cnn3d
from videoattr.core.targets import resolve_target
from videoattr.methods.extremal import STEP, ExtremalPerturbation2D, MaskGenerator
from videoattr.methods.extremal.settings import PerturbationSettings
from videoattr.methods.extremal.warm_start import gradient_map, warm_params


def test_warm_params_start_the_top_cells_at_one_and_scale_the_rest() -> None:
    # 2 frames of 4 x 4 cells (28 x 28 pixels, step 7): cell values 1..32, one cell per 7 x 7 block.
    cells = torch.arange(1, 33, dtype=torch.float64).view(1, 2, 4, 4)
    saliency = cells.repeat_interleave(7, 2).repeat_interleave(7, 3)
    params = warm_params(
        saliency, (4, 4), [0.25], torch.tensor([0]), torch.tensor([0]), per_frame=False
    )
    q = torch.quantile(cells.flatten(), 0.75)  # independent: the 0.75 quantile of the 32 values
    expected = (cells / q).clamp(max=1)
    torch.testing.assert_close(params, expected)
    assert int((params == 1).sum()) == 8  # the top quarter: 25 .. 32, above the quantile 24.25


def test_warm_params_per_frame_keeps_the_area_in_every_frame() -> None:
    saliency = torch.zeros(1, 2, 28, 28, dtype=torch.float64)
    saliency[0, 0] = torch.rand(28, 28, generator=torch.Generator().manual_seed(0))
    saliency[0, 1] = 1e-3 * torch.rand(28, 28, generator=torch.Generator().manual_seed(1))
    rows = torch.tensor([0, 0])
    clip_wide = warm_params(saliency, (4, 4), [0.25], rows[:1], rows[:1], per_frame=False)
    per_frame = warm_params(saliency, (4, 4), [0.25], rows[:1], rows[:1], per_frame=True)
    # over the clip the faint second frame starts almost empty; per frame both frames keep cells at 1
    assert float(clip_wide[0, 1].max()) < 0.01
    assert int((per_frame[0, 0] == 1).sum()) >= 4 and int((per_frame[0, 1] == 1).sum()) >= 4


def test_gradient_map_is_the_input_gradient_of_the_log_probability() -> None:
    model = tiny_cnn3d().double().eval()
    x = torch.randn(2, 3, 4, 14, 14, dtype=torch.float64)
    target = resolve_target(torch.tensor([1, 3]), 2).with_logits(model(x))
    got = gradient_map(model, x, target, max_batch_size=1)
    xg = x.clone().requires_grad_(True)
    logp = torch.log_softmax(model(xg), 1)
    (grad,) = torch.autograd.grad(logp[0, 1] + logp[1, 3], xg)
    torch.testing.assert_close(got, grad.abs().sum(1))


@pytest.mark.parametrize("method", [STEP, ExtremalPerturbation2D])
def test_the_first_iteration_uses_the_warm_parameters(method: type[STEP]) -> None:
    model = tiny_cnn3d().double().eval()
    x = torch.randn(1, 3, 8, 28, 28, dtype=torch.float64)
    explainer = method(model, areas=0.1, progress=False, max_iter=1)
    explainer.settings = explainer.settings.replace(warm_start="gradient")
    result = explainer.optimize(x, target=2)
    settings = explainer.settings
    generator = MaskGenerator((28, 28), settings.step, settings.sigma_for(28, 28))
    target = resolve_target(2, 1).with_logits(model(x))
    params = warm_params(
        gradient_map(model, x, target),
        generator.grid_shape,
        [0.1],
        torch.tensor([0]),
        torch.tensor([0]),
        per_frame=settings.area_mode == "frame",
    )
    mask, _ = generator.generate(params.float().double())
    torch.testing.assert_close(result.masks[:, 0], mask, atol=1e-6, rtol=0)
    # and the reference initialisation (all ones) gives another mask
    cold, _ = generator.generate(torch.ones_like(params))
    assert float((cold - mask).abs().max()) > 0.1


def test_an_unknown_warm_start_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="warm_start"):
        PerturbationSettings(warm_start="grad-cam")  # type: ignore[arg-type]
