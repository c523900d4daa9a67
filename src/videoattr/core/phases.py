"""Where a call's time goes: named phases, timed when asked for.

A method marks the coarse phases of a call (for the extremal perturbation engine: ``extremal.call``,
``extremal.pyramid``, ``extremal.setup``, ``extremal.warm_start``, ``extremal.iterations`` and
``extremal.final``) with [`phase`][videoattr.core.phases.phase]. Each phase is a profiler range
``videoattr.<name>`` (seen by ``torch.profiler``); inside [`timed_phases`][videoattr.core.phases.timed_phases]
it is also timed by the wall clock, after waiting for the device's queued work at its start and end
(so on CUDA the times are those of the work, not of its launch). Outside ``timed_phases`` a phase costs
no synchronisation and no clock reads.

Example:
    >>> import torch
    >>> from videoattr.core.phases import timed_phases
    >>> from videoattr.demo_model import load_demo_model
    >>> from videoattr.methods.extremal import STEP
    >>> step = STEP(load_demo_model(), preset="fast", max_iter=2, progress=False)
    >>> with timed_phases() as seconds:
    ...     _ = step.attribute(torch.randn(1, 3, 8, 32, 32), target=1)
    >>> sorted(seconds)  # doctest: +NORMALIZE_WHITESPACE
    ['extremal.call', 'extremal.final', 'extremal.iterations', 'extremal.pyramid',
     'extremal.setup', 'extremal.warm_start']
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch.profiler import record_function

__all__ = ["phase", "timed_phases"]

_TIMES: ContextVar[dict[str, float] | None] = ContextVar("videoattr_phase_times", default=None)


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def phase(name: str, device: torch.device | None = None) -> Iterator[None]:
    """Mark a phase ``name`` of a call: a profiler range ``videoattr.<name>``, timed inside `timed_phases`.

    Args:
        name: the phase, e.g. ``"extremal.pyramid"``. Phases of one name add up (a phase entered
            twice in a call counts twice).
        device: where the phase's work runs; on CUDA, timing waits for the device's queued work at
            the phase's start and end. Default ``None`` (the CPU: no waiting).
    """
    times = _TIMES.get()
    with record_function(f"videoattr.{name}"):
        if times is None:
            yield
            return
        _synchronize(device)
        start = time.perf_counter()
        try:
            yield
        finally:
            _synchronize(device)
            times[name] = times.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def timed_phases() -> Iterator[dict[str, float]]:
    """Time the phases of the calls made inside the block.

    Yields:
        A dict, filled as phases end: seconds per phase name (the sum over the block's calls). Blocks
        nest: an inner block gets its own dict, and its phases are not added to the outer one.
    """
    times: dict[str, float] = {}
    token = _TIMES.set(times)
    try:
        yield times
    finally:
        _TIMES.reset(token)
