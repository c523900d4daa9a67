"""The energy is one mapping from name to term: a term added in one place is optimised, recorded in the
history under its name, summed into the energy and watched by early stopping."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from tests.helpers import clip, tiny_cnn3d
from videoattr.methods.extremal import STEP, ExtremalPerturbation3D
from videoattr.methods.extremal.energy import MASK_TERMS, TermSetup, build_terms
from videoattr.methods.extremal.objectives import WeightedTerm
from videoattr.methods.extremal.ranking import TieBreak
from videoattr.methods.extremal.settings import PerturbationSettings

FAST: dict[str, Any] = {"max_iter": 6, "progress": False, "areas": 0.1}


class Mass:
    """Unweighted term ``-mean(padded mask)``: a positive weight pushes the masks' mass up."""

    name = "mass"
    num_values = 1

    def __call__(
        self,
        padded: Tensor,
        area_index: Tensor,
        permutation: Tensor | None = None,
        tie_break: TieBreak = "sort",
    ) -> Tensor:
        return -padded.mean(dim=(1, 2, 3))


class One:
    """Unweighted term 1 for every row: what it adds is exactly its weight."""

    name = "one"
    num_values = 1

    def __call__(
        self,
        padded: Tensor,
        area_index: Tensor,
        permutation: Tensor | None = None,
        tie_break: TieBreak = "sort",
    ) -> Tensor:
        return padded.new_ones(padded.shape[0])


def falling(settings: PerturbationSettings, setup: TermSetup) -> WeightedTerm:
    """The term ``One`` with weight ``-1000 t`` at iteration ``t``: the energy falls every iteration."""
    return WeightedTerm(One(), -1000.0 * torch.arange(settings.max_iter, dtype=torch.float64))


def test_an_added_term_is_recorded_and_summed_into_the_energy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(MASK_TERMS, "one", falling)
    result = STEP(tiny_cnn3d(), **FAST).optimize(clip(b=2, t=8, h=24, w=24), target=1)
    history = result.history
    assert list(history.terms) == ["reward", "area", "smoothness", "one"]
    assert list(history.weights) == ["area", "smoothness", "one"]
    expected = -1000.0 * torch.arange(6, dtype=torch.float32)
    torch.testing.assert_close(history.terms["one"], expected.expand(2, 1, 6))
    torch.testing.assert_close(history.weights["one"], expected.double())
    total = history.reward + history.area + history.smoothness + history.terms["one"]
    assert torch.equal(history.energy, total)
    assert torch.equal(result.final_energy, total[..., -1])


def test_an_added_term_is_optimised(monkeypatch: pytest.MonkeyPatch) -> None:
    x = clip(b=1, t=8, h=24, w=24)
    plain = ExtremalPerturbation3D(tiny_cnn3d(), **FAST).optimize(x, target=1)
    monkeypatch.setitem(
        MASK_TERMS,
        "mass",
        lambda s, _setup: WeightedTerm(Mass(), torch.full((s.max_iter,), 1e4, dtype=torch.float64)),
    )
    pushed = ExtremalPerturbation3D(tiny_cnn3d(), **FAST).optimize(x, target=1)
    assert float(pushed.mask_area.mean()) > float(plain.mask_area.mean()) + 0.05


def test_early_stopping_watches_an_added_term(monkeypatch: pytest.MonkeyPatch) -> None:
    # lr so small that the masks barely move: the energy stalls and early stopping ends the run ...
    kw = {**FAST, "lr": 1e-9, "early_stop": 2}
    x = clip(b=1, t=8, h=24, w=24)
    stalled = ExtremalPerturbation3D(tiny_cnn3d(), **kw).optimize(x, target=1)
    assert stalled.stopped_early and stalled.iterations == 3
    # ... unless an added term makes it fall
    monkeypatch.setitem(MASK_TERMS, "one", falling)
    falling_run = ExtremalPerturbation3D(tiny_cnn3d(), **kw).optimize(x, target=1)
    assert not falling_run.stopped_early and falling_run.iterations == 6


def test_an_added_term_gets_the_target_axis_of_several_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(MASK_TERMS, "one", falling)
    result = ExtremalPerturbation3D(tiny_cnn3d(), **FAST).optimize(
        clip(b=2, t=8, h=24, w=24), target="top2"
    )
    assert result.history.terms["one"].shape == (2, 2, 1, 6)
    assert result.history.energy.shape == (2, 2, 1, 6)


def test_a_term_s_schedule_must_cover_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        MASK_TERMS, "one", lambda s, _setup: WeightedTerm(One(), torch.ones(3, dtype=torch.float64))
    )
    setup = TermSetup((0.1,), 8, (30, 30), torch.device("cpu"))
    with pytest.raises(ValueError, match=r"mask term 'one' must have one weight per iteration"):
        build_terms(PerturbationSettings(max_iter=6), setup)


def test_the_built_in_terms_and_their_weights_are_the_settings() -> None:
    settings = PerturbationSettings(max_iter=20, smoothness_weight=300.0, area_growth=1.01)
    setup = TermSetup((0.1,), 8, (30, 30), torch.device("cpu"))
    terms = build_terms(settings, setup)
    assert list(terms) == ["area", "smoothness"]
    area, smooth = settings.weights()
    assert torch.equal(terms["area"].weights, area)
    assert torch.equal(terms["smoothness"].weights, smooth)
    assert list(build_terms(PerturbationSettings(max_iter=20), setup)) == ["area"]
