"""Native loops of the perturbation methods (mask pooling, pyramid blend), built with a C++ compiler.

Two steps of every iteration are memory-bound when written as PyTorch operations:

- the mask generator's soft-max pooling takes one ``exp`` per canvas pixel and neighbour, and its
  PyTorch form also writes and reads several tensors of that size; the native loop computes every
  pixel's pooled value and gradient in registers, and only the canvas and two small per-pixel tables
  touch memory (2.5-5x cheaper);
- the perturbation's pyramid blend builds 64-bit index tensors the size of the clip to gather two
  levels per element; the native loop reads the two levels in place.

``native_kernels.cpp`` ships with the package.

The library is compiled once per machine and source version (a few seconds with ``g++``) into a
private cache folder and loaded with ``ctypes``. It splits the work over ``torch.get_num_threads()``
threads: PyTorch's own OpenMP threads where the compiler takes ``-fopenmp`` (so that the two never
compete for the cores), Python threads that release the GIL otherwise. Nothing else is needed: no
PyTorch headers, no ``ninja``.

Controls (environment):
    ``VIDEOATTR_NATIVE=0``: never build or load the library (PyTorch operations are used instead).
    ``CXX``: the compiler (default the first of ``c++``, ``g++``, ``clang++`` on the ``PATH``).
    ``VIDEOATTR_CACHE_DIR``: the cache folder (default ``$XDG_CACHE_HOME/videoattr`` or
    ``~/.cache/videoattr``; ``~`` is expanded); a ``kernels`` folder in it must belong to the user and
    not be writable by others, or nothing is loaded from it.

The cache is checked before anything is loaded, and repaired when damaged; a build that fails is
not tried again until the compiler or the source changes (see
[`native_cache`][videoattr.core.native_cache]).

[`status`][videoattr.core.native.status] says whether the library is in use and, if not, why.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor

from videoattr.core.native_cache import (
    ABI_VERSION,
    BUILD_TIMEOUT_S,
    NativeLibrary,
    NativeUnavailable,
    cache_dir,
    load_library,
)

__all__ = [
    "ABI_VERSION",
    "BUILD_TIMEOUT_S",
    "DTYPES",
    "ENV_SWITCH",
    "Geometry",
    "NativeUnavailable",
    "available",
    "blend_backward",
    "blend_forward",
    "cache_dir",
    "library",
    "pool_backward",
    "pool_forward",
    "status",
    "use",
    "warn_fallback_once",
]

#: Floating types the kernels are compiled for.
DTYPES = (torch.float32, torch.float64)
#: Environment variable that turns the kernels off (``0``, ``false``, ``no`` or ``off``).
ENV_SWITCH = "VIDEOATTR_NATIVE"
_LANES = 8


@dataclass(frozen=True)
class Geometry:
    """Sizes of one pooling call: padded grid ``(hp, wp)``, cells ``(mh, mw)``, neighbourhood side, step."""

    hp: int
    wp: int
    mh: int
    mw: int
    size: int
    step: int

    @property
    def padded_subpixels(self) -> int:
        """``step^2`` rounded up to a multiple of 8 (the weight tables' row length)."""
        return -(-self.step * self.step // _LANES) * _LANES

    def as_array(self) -> ctypes.Array[ctypes.c_int64]:
        values = (self.hp, self.wp, self.mh, self.mw, self.size, self.step, self.padded_subpixels)
        return (ctypes.c_int64 * 7)(*values)


def _switched_off() -> bool:
    return os.environ.get(ENV_SWITCH, "").strip().lower() in {"0", "false", "no", "off"}


_lock = threading.Lock()
_library: NativeLibrary | None = None
_failure: str | None = None
_warned = False
_executor: ThreadPoolExecutor | None = None
_executor_size = 0


def _reset_after_fork() -> None:
    global _executor, _executor_size
    _executor, _executor_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def library() -> NativeLibrary:
    """The loaded kernel, building it on first use; raises `NativeUnavailable` with the reason."""
    global _library, _failure
    if _switched_off():
        raise NativeUnavailable(f"turned off by {ENV_SWITCH}={os.environ[ENV_SWITCH]}")
    with _lock:
        if _library is None and _failure is None:
            try:
                _library = load_library()
            except NativeUnavailable as error:
                _failure = str(error)
        if _library is None:
            raise NativeUnavailable(_failure or "unavailable")
        return _library


def available() -> bool:
    """Whether the native kernels can run here (builds them on the first call)."""
    try:
        library()
    except NativeUnavailable:
        return False
    return True


def use(kernel: str, unsuitable: str | None) -> bool:
    """Whether a call runs its native loop, for a ``kernel`` choice of ``"auto"``, ``"native"`` or ``"pytorch"``.

    ``unsuitable`` says why this call cannot use the loop (``None`` if it can): ``"auto"`` then runs
    PyTorch operations, ``"native"`` raises ``ValueError`` with it. ``"auto"`` also falls back (with
    [`warn_fallback_once`][videoattr.core.native.warn_fallback_once]) when the library
    cannot be built; ``"native"`` raises [`NativeUnavailable`][videoattr.core.native.NativeUnavailable] then.
    """
    if kernel == "pytorch":
        return False
    if kernel == "auto":
        if unsuitable is not None:
            return False
        if available():
            return True
        warn_fallback_once()
        return False
    if unsuitable is not None:
        raise ValueError(f"kernel='native' {unsuitable} (use kernel='auto' or 'pytorch')")
    library()  # raises NativeUnavailable with the reason
    return True


def warn_fallback_once() -> None:
    """Warn, once per process, that the native kernels failed and slower PyTorch operations run instead.

    Says nothing when ``VIDEOATTR_NATIVE`` turned it off (a choice, not a failure).
    """
    global _warned
    if _warned or _switched_off():
        return
    _warned = True
    warnings.warn(
        f"{status()}: the extremal-perturbation methods' mask generator is 2.5-5x slower on this "
        f"CPU. Set {ENV_SWITCH}=0 to use PyTorch operations without this warning.",
        RuntimeWarning,
        stacklevel=3,
    )


def status() -> str:
    """One line: the library in use, or why PyTorch operations are used instead."""
    try:
        return f"native kernels: {library().path}"
    except NativeUnavailable as error:
        return f"native kernels unavailable ({error}); PyTorch operations are used"


def _forget() -> None:
    """Drop the loaded library and any recorded failure (tests; a changed environment)."""
    global _library, _failure, _warned
    with _lock:
        _library = None
        _failure = None
        _warned = False


def _ranges(units: int, threads: int) -> list[tuple[int, int]]:
    parts = max(1, min(threads, units))
    bounds = [units * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _run(
    function: Callable[..., None], units: int, head: tuple[object, ...], tail: tuple[object, ...]
) -> None:
    """Call ``function(*head, u0, u1, threads, *tail)`` over the units ``[0, units)``, in parallel."""
    global _executor, _executor_size
    threads = max(1, torch.get_num_threads())
    if library().openmp:
        function(*head, 0, units, threads, *tail)
        return
    ranges = _ranges(units, threads)
    if len(ranges) == 1:
        function(*head, 0, units, 1, *tail)
        return
    with _lock:
        if _executor is None or _executor_size < len(ranges):
            if _executor is not None:
                _executor.shutdown(wait=False)
            _executor = ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="videoattr")
            _executor_size = len(ranges)
        executor = _executor
    jobs: list[Future[None]] = [executor.submit(function, *head, a, b, 1, *tail) for a, b in ranges]
    for job in jobs:
        job.result()


def _pointer(tensor: Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(tensor.data_ptr())


def pool_forward(
    padded: Tensor, coldness_weight: Tensor, geometry: Geometry, coldness: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Pooled canvas ``(N, mh step, mw step)`` of zero-padded grids ``(N, hp, wp)``.

    ``coldness_weight`` is ``(size^2, padded_subpixels)``: coldness times the bump weight of every
    neighbour at every sub-pixel, zero in the padding. Also returns the per-pixel sums and shifts
    ``(N, mh, mw, padded_subpixels)`` that [`pool_backward`][videoattr.core.native.pool_backward] needs.
    """
    lib = library()
    n = padded.shape[0]
    ssp = geometry.padded_subpixels
    canvas = padded.new_empty(n, geometry.mh * geometry.step, geometry.mw * geometry.step)
    total = padded.new_empty(n, geometry.mh, geometry.mw, ssp)
    shift = torch.empty_like(total)
    head: tuple[object, ...] = (_pointer(padded), _pointer(coldness_weight), _pointer(canvas))
    head += (_pointer(total), _pointer(shift))
    _run(lib.forward[padded.dtype], n, head, (geometry.as_array(), coldness))
    return canvas, total, shift


def pool_backward(
    padded: Tensor,
    coldness_weight: Tensor,
    weight: Tensor,
    saved: tuple[Tensor, Tensor, Tensor],
    grad: Tensor,
    geometry: Geometry,
    coldness: float,
) -> Tensor:
    """Gradient ``(N, hp, wp)`` with respect to the padded grids; ``saved`` is ``pool_forward``'s output."""
    lib = library()
    canvas, total, shift = saved
    grad_padded = torch.zeros_like(padded)
    head: tuple[object, ...] = (
        _pointer(padded),
        _pointer(coldness_weight),
        _pointer(weight),
        _pointer(canvas),
    )
    head += (_pointer(total), _pointer(shift), _pointer(grad), _pointer(grad_padded))
    _run(lib.backward[padded.dtype], padded.shape[0], head, (geometry.as_array(), coldness))
    return grad_padded


_BLEND_BLOCK = 1024  # pixels per unit of work (kBlendBlock in the C++ source)


def _blend_units(rows: int, pixels: int) -> int:
    return rows * -(-pixels // _BLEND_BLOCK)


def blend_forward(pyramid: Tensor, mask: Tensor, clip_index: Tensor) -> Tensor:
    """``(N, C, P)`` blend of pyramid levels ``(B, C, P, L)`` picked by masks ``(N, P)`` of clips ``(N,)``.

    All contiguous, on the CPU, ``pyramid`` and ``mask`` of one dtype, ``clip_index`` int64.
    """
    lib = library()
    _, channels, pixels, levels = pyramid.shape
    rows = mask.shape[0]
    out = mask.new_empty(rows, channels, pixels)
    shape = (ctypes.c_int64 * 3)(channels, pixels, levels)
    head = (_pointer(pyramid), _pointer(mask), _pointer(clip_index), _pointer(out))
    _run(lib.blend_forward[mask.dtype], _blend_units(rows, pixels), head, (shape,))
    return out


def blend_backward(pyramid: Tensor, mask: Tensor, clip_index: Tensor, grad: Tensor) -> Tensor:
    """Gradient ``(N, P)`` of [`blend_forward`][videoattr.core.native.blend_forward] with respect to the masks."""
    lib = library()
    _, channels, pixels, levels = pyramid.shape
    rows = mask.shape[0]
    grad_mask = torch.empty_like(mask)
    shape = (ctypes.c_int64 * 3)(channels, pixels, levels)
    head: tuple[object, ...] = (
        _pointer(pyramid),
        _pointer(mask),
        _pointer(clip_index),
        _pointer(grad),
    )
    head += (_pointer(grad_mask),)
    _run(lib.blend_backward[mask.dtype], _blend_units(rows, pixels), head, (shape,))
    return grad_mask
