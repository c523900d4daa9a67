"""Named phases of a call: profiler ranges always, wall-clock times inside ``timed_phases``."""

from __future__ import annotations

import time

import torch
from torch.profiler import ProfilerActivity, profile

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.phases import phase, timed_phases
from videoattr.methods.extremal import STEP

ENGINE_PHASES = {"call", "pyramid", "setup", "warm_start", "iterations", "final"}


def test_phases_add_up_and_nest() -> None:
    with timed_phases() as outer:
        with phase("a"):
            time.sleep(0.01)
        with timed_phases() as inner, phase("a"):
            time.sleep(0.01)
        with phase("a"):
            time.sleep(0.01)
    assert set(outer) == {"a"} and set(inner) == {"a"}
    assert outer["a"] >= 0.02 and 0.01 <= inner["a"] < outer["a"]
    with phase("b"):  # outside any block: nothing recorded anywhere
        pass
    assert "b" not in outer


def test_a_fast_call_reports_its_phases_inside_its_wall_time() -> None:
    step = STEP(tiny_cnn3d(), preset="fast", max_iter=3, progress=False)
    x = clip(b=2, t=8, h=32, w=32)
    with timed_phases() as seconds:
        start = time.perf_counter()
        step.attribute(x, target=1)
        wall = time.perf_counter() - start
    assert {name.removeprefix("extremal.") for name in seconds} == ENGINE_PHASES
    inside = sum(v for k, v in seconds.items() if k != "extremal.call")
    assert 0 < inside <= seconds["extremal.call"] <= wall
    # a call without a warm start has no warm-start phase
    with timed_phases() as cold:
        step.attribute(x, target=1, warm_start="none")
    assert "extremal.warm_start" not in cold


def test_phases_are_profiler_ranges() -> None:
    step = STEP(tiny_cnn3d(), preset="fast", max_iter=2, progress=False)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step.attribute(clip(b=1, t=8, h=32, w=32), target=1)
    names = {e.key for e in prof.key_averages()}
    assert {f"videoattr.extremal.{p}" for p in ENGINE_PHASES} <= names
    assert torch.is_grad_enabled()
