"""The native pooling kernel computes the PyTorch pooling's masks and gradients, and is built safely.

Its reference is the fused pooling in PyTorch operations (itself checked against the reference
implementation's composition and against finite differences in ``test_extremal_parts``), compared in
float64; finite differences check its own gradient.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.helpers import clip, tiny_cnn3d
from videoattr.core import native, native_cache
from videoattr.methods.extremal import STEP
from videoattr.methods.extremal.masks import MaskGenerator

needs_native = pytest.mark.skipif(
    not native.available(),
    reason=f"the native kernel cannot be built here: {native.status()}",
)


@pytest.fixture
def fresh_native(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private cache folder and no loaded library; the process's library is restored afterwards."""
    monkeypatch.setenv("VIDEOATTR_CACHE_DIR", str(tmp_path / "cache"))
    native._forget()
    yield tmp_path / "cache" / "kernels"
    native._forget()


def pooled(gen: MaskGenerator, params: torch.Tensor, weight: torch.Tensor) -> tuple[Any, ...]:
    leaf = params.clone().requires_grad_(True)
    mask, padded = gen.generate(leaf)
    (padded * weight).sum().backward()
    assert leaf.grad is not None
    return mask, padded, leaf.grad, gen.last_kernel


GEOMETRIES = [
    ((32, 32), 7, 11.0),
    ((56, 56), 7, 7.0),
    ((45, 70), 7, 11.0),
    ((40, 40), 5, 8.0),  # 25 sub-pixels: the tables' rows are padded to 32
    ((48, 48), 8, 9.0),  # 64 sub-pixels: no padding
]


@needs_native
@pytest.mark.parametrize(("shape", "step", "sigma"), GEOMETRIES)
@pytest.mark.parametrize("scale", [1.0, 9.0])  # 9: coldness * |p| * w passes 80, the shifted exp
def test_native_equals_the_pytorch_pooling_in_float64(
    shape: tuple[int, int], step: int, sigma: float, scale: float
) -> None:
    native_gen = MaskGenerator(shape, step, sigma, kernel="native")
    torch_gen = MaskGenerator(shape, step, sigma, kernel="pytorch")
    g = torch.Generator().manual_seed(0)
    params = torch.rand(3, 2, *native_gen.grid_shape, generator=g, dtype=torch.float64) - 0.1
    params = params * scale
    params[0] = 1.0  # the initialisation: many equal values
    weight = torch.randn(3, 2, *native_gen.padded_shape, generator=g, dtype=torch.float64)
    mask_n, padded_n, grad_n, kind_n = pooled(native_gen, params, weight)
    mask_t, padded_t, grad_t, kind_t = pooled(torch_gen, params, weight)
    assert (kind_n, kind_t) == ("native", "pytorch")
    torch.testing.assert_close(padded_n, padded_t, atol=1e-12, rtol=0)
    torch.testing.assert_close(mask_n, mask_t, atol=1e-12, rtol=0)
    torch.testing.assert_close(grad_n, grad_t, atol=1e-10 * scale, rtol=1e-10)


@needs_native
@pytest.mark.parametrize("scale", [1.0, 9.0])
def test_native_gradient_matches_finite_differences(scale: float) -> None:
    gen = MaskGenerator((32, 32), 7, 11.0, kernel="native")
    g = torch.Generator().manual_seed(1)
    probe = torch.rand(2, *gen.grid_shape, generator=g, dtype=torch.float64) * scale
    probe.requires_grad_(True)
    # every input against a few random projections of the whole canvas (one backward pass each)
    directions = torch.randn(2 * gen.padded_shape[0] * gen.padded_shape[1], 3, generator=g)
    directions = directions.double()

    def projected(p: torch.Tensor) -> torch.Tensor:
        return gen.generate(p)[1].reshape(1, -1) @ directions

    assert torch.autograd.gradcheck(projected, (probe,), eps=1e-6, atol=1e-6)


@needs_native
def test_native_float32_is_float64_up_to_float32_rounding() -> None:
    gen = MaskGenerator((56, 56), 7, 7.0, kernel="native")
    params = torch.rand(4, *gen.grid_shape, generator=torch.Generator().manual_seed(2))
    _, single = gen.generate(params)
    _, double = gen.generate(params.double())
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), double, atol=2e-6, rtol=0)


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_frames_mask_does_not_depend_on_the_batch_or_the_threads(dtype: torch.dtype) -> None:
    gen = MaskGenerator((32, 32), 7, 11.0, kernel="native")
    params = torch.rand(6, *gen.grid_shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    weight = torch.randn(6, *gen.padded_shape, dtype=dtype)
    _, whole, grad_whole, _ = pooled(gen, params, weight)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        parts = [pooled(gen, params[i : i + 1], weight[i : i + 1]) for i in range(6)]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.cat([p[1] for p in parts]), whole)
    assert torch.equal(torch.cat([p[2] for p in parts]), grad_whole)


@needs_native
def test_python_threads_give_the_openmp_build_s_masks(
    fresh_native: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without OpenMP the frames are split over Python threads: same numbers, bit for bit (float64)."""
    gen = MaskGenerator((32, 32), 7, 11.0, kernel="native")
    params = torch.rand(5, *gen.grid_shape, generator=torch.Generator().manual_seed(4))
    params = params.double()
    weight = torch.randn(5, *gen.padded_shape, dtype=torch.float64)
    first = pooled(gen, params, weight)
    monkeypatch.setattr(native_cache, "_VARIANTS", (("plain", ()),))
    native._forget()
    assert not native.library().openmp
    plain = pooled(gen, params, weight)
    assert plain[3] == "native"
    assert torch.equal(plain[1], first[1])
    assert torch.equal(plain[2], first[2])


def test_switched_off_by_the_environment(
    fresh_native: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOATTR_NATIVE", "0")
    gen = MaskGenerator((32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a choice, not a failure: no warning
        gen.generate(torch.rand(2, *gen.grid_shape))
    assert gen.last_kernel == "pytorch"
    assert not native.available()
    assert "VIDEOATTR_NATIVE=0" in native.status()
    with pytest.raises(native.NativeUnavailable, match="VIDEOATTR_NATIVE"):
        MaskGenerator((32, 32), kernel="native").generate(torch.rand(2, 5, 5))
    assert not fresh_native.exists()  # nothing was built


def test_no_compiler_falls_back_and_says_why(
    fresh_native: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", "videoattr-no-such-compiler")
    gen = MaskGenerator((32, 32))
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found.*2.5-5x slower"):
        gen.generate(torch.rand(2, *gen.grid_shape))
    assert gen.last_kernel == "pytorch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per process, not at every call
        gen.generate(torch.rand(2, *gen.grid_shape))
    assert "no C++ compiler found" in native.status()
    with pytest.raises(native.NativeUnavailable, match="videoattr-no-such-compiler"):
        MaskGenerator((32, 32), kernel="native").generate(torch.rand(2, 5, 5))


def test_a_failing_build_falls_back_and_shows_the_compiler_s_words(
    fresh_native: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-cxx"
    broken.write_text("#!/bin/sh\necho 'error: this compiler is broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    assert not native.available()
    assert "this compiler is broken" in native.status()
    assert not list(fresh_native.glob("*.so"))


@pytest.mark.skipif(os.name != "posix", reason="file ownership and modes are POSIX")
def test_a_cache_folder_others_can_write_is_refused(fresh_native: Path) -> None:
    fresh_native.mkdir(parents=True)
    fresh_native.chmod(0o777)
    assert not native.available()
    assert "writable by other users" in native.status()
    assert not list(fresh_native.glob("*.so"))


@needs_native
@pytest.mark.skipif(os.name != "posix", reason="file ownership and modes are POSIX")
def test_a_library_others_could_have_replaced_is_not_loaded(fresh_native: Path) -> None:
    assert native.available()
    (built,) = fresh_native.glob("*.so")
    assert stat.S_IMODE(fresh_native.stat().st_mode) == 0o700
    built.chmod(0o722)
    native._forget()
    assert not native.available()
    assert "unsafe library" in native.status()


def test_native_kernel_refuses_what_it_cannot_pool() -> None:
    gen = MaskGenerator((32, 32), kernel="native")
    with pytest.raises(ValueError, match=r"kernel='native' pools CPU float32/float64.*float16"):
        gen.generate(torch.rand(2, *gen.grid_shape).half())
    with pytest.raises(ValueError, match="kernel must be one of"):
        MaskGenerator((32, 32), kernel="cuda")  # type: ignore[arg-type]


@needs_native
@pytest.mark.parametrize("generator", ["fused", "native", "pytorch"])
def test_step_records_what_pooled_its_masks(generator: str) -> None:
    model = tiny_cnn3d().double()
    x = clip(b=1, t=8, h=32, w=32).double()
    kw: dict[str, Any] = {"max_iter": 4, "progress": False, "areas": [0.1]}
    result = STEP(model, generator=generator, **kw).optimize(x, target=1)
    assert result.pool_kernel == ("pytorch" if generator == "pytorch" else "native")
    other = STEP(model, generator="pytorch", **kw).optimize(x, target=1)
    # The same optimisation. Not to float64 precision: many mask values are equal in exact arithmetic
    # (the initialisation, mirror-symmetric pixels), the two poolings round them differently, and the
    # area term's ranking breaks such ties by those last bits.
    difference = (result.masks - other.masks).abs()
    assert float(difference.mean()) < 2e-3 and float(difference.max()) < 0.05


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_nan_parameter_gives_nan_pixels_not_numbers(dtype: torch.dtype) -> None:
    gen = MaskGenerator((32, 32), 7, 11.0, kernel="native", clamp=False)
    params = torch.rand(2, *gen.grid_shape, dtype=dtype)
    params[1, 2, 2] = float("nan")
    _, native_padded = gen.generate(params)
    _, torch_padded = MaskGenerator((32, 32), 7, 11.0, kernel="pytorch", clamp=False).generate(
        params
    )
    assert not native_padded[0].isnan().any()
    assert torch.equal(native_padded.isnan(), torch_padded.isnan())
    assert native_padded[1].isnan().any()


@needs_native
@pytest.mark.parametrize("kind", ["blur", "fade"])
def test_native_blend_equals_the_pytorch_blend_in_float64(kind: str) -> None:
    from videoattr.core.pyramid import Perturbation

    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 3, 4, 20, 24, generator=g, dtype=torch.float64)
    fast = Perturbation(x, num_levels=8, kind=kind, kernel="native")  # type: ignore[arg-type]
    slow = Perturbation(x, num_levels=8, kind=kind, kernel="pytorch")  # type: ignore[arg-type]
    mask = torch.rand(5, 4, 20, 24, generator=g, dtype=torch.float64)
    mask[0] = 1.0  # keep
    mask[1] = 0.0  # strongest perturbation
    mask[2, 0] = torch.arange(20 * 24, dtype=torch.float64).view(20, 24) % 8 / 7  # exact levels
    clip_index = torch.tensor([0, 2, 1, 1, 0])
    weight = torch.randn(5, 3, 4, 20, 24, generator=g, dtype=torch.float64)
    results = []
    for pert in (fast, slow):
        leaf = mask.clone().requires_grad_(True)
        out = pert.apply(leaf, clip_index)
        (out * weight).sum().backward()
        results.append((out, leaf.grad))
    (out_n, grad_n), (out_t, grad_t) = results
    torch.testing.assert_close(out_n, out_t, atol=1e-13, rtol=0)
    assert grad_n is not None and grad_t is not None
    torch.testing.assert_close(grad_n, grad_t, atol=1e-12, rtol=0)
    torch.testing.assert_close(out_n[0], x[0], atol=1e-13, rtol=0)  # mask 1 keeps the clip


@needs_native
def test_native_blend_refuses_what_it_cannot_blend() -> None:
    from videoattr.core.pyramid import Perturbation

    x = torch.randn(2, 3, 2, 8, 8)
    pert = Perturbation(x, kernel="native")
    with pytest.raises(IndexError, match=r"clip_index must lie in \[0, 2\); got \[0, 2\]"):
        pert.apply(torch.rand(2, 2, 8, 8), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="kernel='native' blends CPU float32/float64 masks"):
        pert.apply(torch.rand(2, 2, 8, 8, dtype=torch.float64))
