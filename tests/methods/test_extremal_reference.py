"""Parity with the reference implementation's perturbation code (Li et al., WACV 2021).

The test vectors (``tests/data/reference_perturbation_t8_h56.pt``) were made on the CPU by the paper's own
code: 150-iteration runs with its per-iteration schedule. The optimisation amplifies float rounding and is
sensitive to how equal mask values are ordered by the sort of the area term, so these checks reproduce the
reference's arithmetic with ``preset="reference"``: ``generator="reference"`` (its unfold/upsample/soft-max
composition), ``tie_break="sort"`` (PyTorch's default sort, as the reference code),
``schedule="per_iteration"``, CPU.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from videoattr.methods.extremal import STEP, ExtremalPerturbation2D, ExtremalPerturbation3D
from videoattr.methods.extremal.attributors import ExtremalPerturbationBase

REFERENCE_FILE = Path(__file__).resolve().parents[1] / "data" / "reference_perturbation_t8_h56.pt"

METHODS: dict[str, type[ExtremalPerturbationBase]] = {
    "2d_ep": ExtremalPerturbation2D,
    "3d_ep": ExtremalPerturbation3D,
    "step": STEP,
}


def load_reference() -> dict[str, Any]:
    """The test vectors (tensors, numbers and strings only: loadable with ``weights_only=True``)."""
    data: dict[str, Any] = torch.load(REFERENCE_FILE, weights_only=True)
    return data


def reference_model(data: dict[str, Any]) -> nn.Module:
    """The tiny model of the README, with the reference weights."""
    model = nn.Sequential(
        nn.Conv3d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )
    model.load_state_dict(data["state_dict"])
    return model


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return load_reference()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["2d_ep", "3d_ep", "step"])
def test_reproduces_reference_vectors(reference: dict[str, Any], case: str) -> None:
    cfg = reference["cases"][case]
    method = METHODS[case](
        reference_model(reference),
        variant=cfg["variant"],
        perturbation=cfg["perturbation"],
        num_levels=int(cfg["num_levels"]),
        max_blur=float(cfg["max_blur"]),
        step=int(cfg["step"]),
        sigma=float(cfg["sigma"]),
        max_iter=int(cfg["max_iter"]),
        preset="reference",  # the one switch: the reference's generator, schedule and tie-break
        progress=False,
    )
    result = method.optimize(
        reference["input"], target=int(reference["target"]), areas=cfg["areas"]
    )

    expected_mask = cfg["mask"]  # (1, 1, T, H, W)
    assert result.masks.shape == expected_mask.shape
    diff = (result.masks - expected_mask).abs()
    assert diff.mean() <= 1e-3, f"mean |mask - reference| = {diff.mean():.3g}"
    assert diff.max() <= 5e-2, f"max |mask - reference| = {diff.max():.3g}"

    reward = result.history.reward[0, 0]
    area = (result.history.area + result.history.smoothness)[0, 0]
    for name, ours, ref in (
        ("reward", reward, cfg["reward_history"][0]),
        ("area", area, cfg["area_history"][0]),
    ):
        assert ours.shape == ref.shape
        rel = (ours - ref).abs() / ref.abs()
        worst = int(rel.argmax())
        assert rel.max() <= 0.01, (
            f"{name} history off by {rel.max():.3g} (relative) at iteration {worst}"
        )


def test_reference_file_describes_the_three_methods(reference: dict[str, Any]) -> None:
    # Guards the loader: the settings the parity test relies on are the paper's defaults.
    assert set(reference["cases"]) >= set(METHODS)
    assert tuple(reference["input"].shape) == (1, 3, 8, 56, 56)
    for cfg in reference["cases"].values():
        assert cfg["num_levels"] == 8 and cfg["step"] == 7 and cfg["variant"] == "preserve"


def test_the_reference_preset_is_one_switch_and_the_defaults_stay_fast() -> None:
    model = reference_model(load_reference())
    default = STEP(model).settings
    assert (default.generator, default.schedule) == ("fused", "run")
    switched = STEP(model, preset="reference").settings
    assert (switched.generator, switched.schedule, switched.tie_break) == (
        "reference",
        "per_iteration",
        "sort",
    )
    # the paper's optimisation otherwise: only the arithmetic changes
    assert dataclasses.replace(switched, generator="fused", schedule="run") == default
    # a keyword still overrides the preset
    assert STEP(model, preset="reference", tie_break="stable").settings.tie_break == "stable"
