"""The blur pyramid in core: its levels, clip by clip, are the blurs the reference implementation takes."""

from __future__ import annotations

import pytest
import torch

from videoattr.core.ops import gaussian_blur_frames
from videoattr.core.pyramid import Perturbation


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_level_is_the_blur_of_its_width(dtype: torch.dtype) -> None:
    x = torch.randn(3, 2, 4, 20, 24, dtype=dtype)
    pert = Perturbation(x, num_levels=5, max_blur=6.0)
    assert pert.pyramid.shape == (3, 2, 4, 20, 24, 5)
    for j, f in enumerate(torch.linspace(0, 1, 5, dtype=torch.float32).tolist()):
        sigma = float(torch.tensor((1 - f) * 6.0, dtype=torch.float32))
        # the level of the whole batch is the level computed for the batch in one call
        assert torch.equal(pert.pyramid[..., j], gaussian_blur_frames(x, sigma)), j
    assert torch.equal(pert.pyramid[..., -1], x)


def test_a_clip_has_the_same_pyramid_alone_and_in_a_batch() -> None:
    x = torch.randn(4, 3, 3, 16, 16)
    whole = Perturbation(x).pyramid
    for b in range(4):
        assert torch.equal(Perturbation(x[b : b + 1]).pyramid[0], whole[b])


def test_fade_levels_scale_the_clip() -> None:
    x = torch.randn(2, 3, 2, 8, 8, dtype=torch.float64)
    pert = Perturbation(x, num_levels=4, kind="fade")
    # the level positions are float32, as in the reference (torch.linspace)
    for j, f in enumerate(torch.linspace(0, 1, 4, dtype=torch.float32).tolist()):
        assert torch.equal(pert.pyramid[..., j], x * f), j
