"""The blur pyramid in core: its levels, clip by clip, are the blurs the reference implementation takes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import Tensor

from videoattr.core.ops import gaussian_blur_frames, gaussian_blur_levels
from videoattr.core.pyramid import REUSED_PYRAMIDS, Perturbation, reuse_pyramids


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float32, 1e-6), (torch.float64, 1e-14)])
def test_every_level_is_the_blur_of_its_width(dtype: torch.dtype, atol: float) -> None:
    x = torch.randn(3, 2, 4, 20, 24, dtype=dtype)
    pert = Perturbation(x, num_levels=5, max_blur=6.0)
    assert pert.pyramid.shape == (3, 2, 4, 20, 24, 5)
    for j, f in enumerate(torch.linspace(0, 1, 5, dtype=torch.float32).tolist()):
        sigma = float(torch.tensor((1 - f) * 6.0, dtype=torch.float32))
        # the levels are computed together (one product per pass), the single blur on its own:
        # the same sums, added in an order the matrix kernels choose
        expected = gaussian_blur_frames(x, sigma)
        torch.testing.assert_close(pert.pyramid[..., j], expected, rtol=0, atol=atol)
    assert torch.equal(pert.pyramid[..., -1], x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blur_levels_in_any_order_and_into_a_view(dtype: torch.dtype) -> None:
    clip = torch.randn(3, 5, 17, 23, dtype=dtype)
    sigmas = [0.0, 2.5, 0.0, 7.0, 1.0]  # unblurred levels between blurred ones
    atol = 1e-6 if dtype == torch.float32 else 1e-14
    block = torch.zeros(2, 3, 5, 17, 23, len(sigmas), dtype=dtype)
    out = gaussian_blur_levels(clip, sigmas, out=block[1])
    assert out.data_ptr() == block[1].data_ptr() and (block[0] == 0).all()
    for j, sigma in enumerate(sigmas):
        expected = gaussian_blur_frames(clip[None], sigma)[0]
        torch.testing.assert_close(block[1][..., j], expected, rtol=0, atol=atol)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gaussian_blur_levels(clip, sigmas).dtype == dtype


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


def _blurs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the clips blurred into pyramids from now on (one entry per clip)."""
    import videoattr.core.pyramid as pyramid_module

    counted: list[int] = []

    def counting(clip: Tensor, sigmas: Sequence[float], out: Tensor | None = None) -> Tensor:
        counted.append(1)
        return gaussian_blur_levels(clip, sigmas, out=out)

    monkeypatch.setattr(pyramid_module, "gaussian_blur_levels", counting)
    return counted


def test_reuse_pyramids_blurs_equal_clips_once(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 3, 4, 16, 16)
    blurs = _blurs(monkeypatch)
    with reuse_pyramids():
        first = Perturbation(x)
        built = len(blurs)
        again = Perturbation(x.clone())  # equal values in other memory
        view = Perturbation(x[:, :, :])  # the same memory
    assert built == 2 and len(blurs) == built
    assert again.pyramid is first.pyramid and view.pyramid is first.pyramid
    outside = Perturbation(x)  # outside the block: built anew
    assert outside.pyramid is not first.pyramid and len(blurs) == 2 * built
    torch.testing.assert_close(outside.pyramid, first.pyramid, rtol=0, atol=0)


def test_reuse_pyramids_tells_clips_and_settings_apart() -> None:
    x = torch.randn(1, 3, 4, 16, 16)
    with reuse_pyramids():
        first = Perturbation(x)
        assert Perturbation(x + 1e-3).pyramid is not first.pyramid
        assert Perturbation(x, max_blur=10.0).pyramid is not first.pyramid
        assert Perturbation(x, kind="fade").pyramid is not first.pyramid
        assert Perturbation(x.double()).pyramid is not first.pyramid
        x.mul_(2)  # changed in place: the kept pyramid no longer serves
        changed = Perturbation(x)
        assert changed.pyramid is not first.pyramid
        torch.testing.assert_close(changed.pyramid[..., -1], x, rtol=0, atol=0)


def test_reuse_pyramids_keeps_the_last_ones_only() -> None:
    clips = [torch.randn(1, 3, 4, 16, 16) for _ in range(REUSED_PYRAMIDS + 1)]
    with reuse_pyramids():
        built = [Perturbation(c).pyramid for c in clips]
        assert Perturbation(clips[-1]).pyramid is built[-1]
        assert Perturbation(clips[0]).pyramid is not built[0]  # the oldest was let go
        with reuse_pyramids():  # a nested block starts empty
            assert Perturbation(clips[-1]).pyramid is not built[-1]


def test_explaining_several_classes_blurs_the_clips_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's calls for each class and the preserved clips share one pyramid."""
    from tests.helpers import tiny_cnn3d
    from videoattr.pipeline import as_method
    from videoattr.pipeline.explain import explain_targets

    model = tiny_cnn3d().eval()
    method = as_method("step", model, {"preset": "fast", "max_iter": 2, "progress": False})
    x = torch.randn(2, 3, 8, 32, 32)
    blurs = _blurs(monkeypatch)
    found = explain_targets(model, method, x, "top3", keep_preserved=True)
    assert sum(blurs) == 2  # two clips, blurred once
    assert len(found) == 2 and len(found[0]) == 3
    assert found[0][1].preserved is not None and found[0][1].preserved.shape == (1, 1, 3, 8, 32, 32)
