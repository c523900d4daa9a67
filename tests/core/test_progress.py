"""Every method that runs more than one forward shows one bar counting its forwards (or iterations),
and ``progress=False`` silences it."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from tqdm import tqdm

from tests.helpers import clip, tiny_cnn3d
from videoattr.core import progress
from videoattr.core.progress import progress_bar, show_value
from videoattr.methods import build_attributor


class Recorder(tqdm):  # type: ignore[type-arg]
    """A bar that remembers, when closed, what it counted."""

    closed: ClassVar[list[dict[str, Any]]] = []

    def close(self) -> None:
        if not getattr(self, "_recorded", False):
            self._recorded = True
            Recorder.closed.append(
                {
                    "desc": getattr(self, "desc", None),
                    "n": self.n,
                    "total": self.total,
                    "unit": getattr(self, "unit", None),
                    "shown": not self.disable,
                    "postfix": getattr(self, "postfix", None),
                }
            )
        super().close()


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    Recorder.closed = []
    monkeypatch.setattr(progress, "tqdm", Recorder)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    return Recorder.closed


#: method -> (options, forwards (or iterations) one call of 2 clips of 4 x 8 x 8 counts, unit)
CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "integrated_gradients": ({"steps": 5}, 5 * 2, "forward"),
    "smoothgrad": ({"n": 3}, 3 * 2, "forward"),
    "occlusion": ({"window": (2, 4, 4)}, 3 * 3 * 3 * 2, "forward"),  # strides (1, 2, 2)
    "temporal_occlusion": ({}, 4 * 2, "forward"),
    "rise": ({"n": 7, "grid": (2, 2, 2)}, 7 * 2, "forward"),
    "score_cam": ({"layer": "2"}, 16 * 2, "forward"),  # 16 channels per clip
    "step": ({"max_iter": 4, "optimizer": "adam", "smoothness_kernel": (3, 3, 3)}, 4, "it"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_bar_counts_the_forwards(name: str, bars: list[dict[str, Any]]) -> None:
    options, expected, unit = CASES[name]
    model = tiny_cnn3d()
    x = clip(b=2, t=4, h=8, w=8)
    att = build_attributor(name, model, max_batch_size=3, **options)
    att.attribute(x, [0, 1])
    shown = [b for b in bars if b["shown"]]
    assert len(shown) == 1, bars
    assert shown[0]["n"] == shown[0]["total"] == expected and shown[0]["unit"] == unit, shown
    if name == "step":
        assert "energy=" in shown[0]["postfix"]  # the last iteration's, shown when it finished


@pytest.mark.parametrize("name", sorted(CASES))
def test_progress_false_shows_nothing(
    name: str, bars: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    options, _, _ = CASES[name]
    att = build_attributor(name, tiny_cnn3d(), progress=False, **options)
    att.attribute(clip(b=1, t=4, h=8, w=8), 0)
    assert not [b for b in bars if b["shown"]] and capsys.readouterr().err == ""


def test_a_bar_prints_its_rate_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    with progress_bar(10, "occlusion") as bar:
        bar.update(10)
        bar.refresh()
    err = capsys.readouterr().err
    assert "occlusion" in err and "10/10" in err and "forward/s" in err


def test_show_value_is_computed_only_when_the_bar_redraws() -> None:
    calls: list[int] = []

    def value() -> float:
        calls.append(1)
        return 1.5

    with progress_bar(1000, "step", unit="it", enabled=False) as silent:
        show_value(silent, "energy", value)
    assert not calls  # a silent bar never asks
    bar = progress_bar(1000, "step", unit="it")
    bar.mininterval = 3600.0
    bar.last_print_t = bar._time()
    try:
        show_value(bar, "energy", value)
        assert not calls  # not due to redraw: the value is not computed (no GPU sync)
        bar.mininterval = 0.0
        show_value(bar, "energy", value)
        assert calls and bar.postfix == "energy=1.5"
    finally:
        bar.close()
    torch.manual_seed(0)
