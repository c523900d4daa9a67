"""The evaluation script (benchmarks/localization.py) end to end in its quick mode."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from torch import nn

from videoattr.core.base import Attributor
from videoattr.methods import Saliency, method_names, register_method, unregister_method

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "localization.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("localization_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through it
    spec.loader.exec_module(module)
    return module


def _plain_gradient(model: nn.Module, polarity: str = "absolute") -> Attributor:
    return Saliency(model, polarity=polarity)  # type: ignore[arg-type]


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| Method"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.setdefault(cells[0].strip("`"), cells[1:])
    return rows


def test_quick_run_writes_a_row_for_every_registered_method(tmp_path: Path) -> None:
    bench = _load()
    register_method(
        "eval_test_gradient", _plain_gradient, summary="a method registered by the test."
    )
    out = tmp_path / "eval.md"
    argv = [
        "--fast",
        "--clips",
        "3",
        "--sanity-clips",
        "1",
        "--curve-steps",
        "4",
        "--resamples",
        "20",
        "--threads",
        "1",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    try:
        bench.main(argv)
        names = [n for n in method_names() if n not in method_names("attention")]
    finally:
        unregister_method("eval_test_gradient")
    text = out.read_text(encoding="utf-8")
    assert "python benchmarks/localization.py --fast --clips 3" in text  # the command that made it
    assert "Quick mode" in text and "## Measures" in text and "logical CPUs" in text
    rows = _rows(text)
    assert set(rows) >= {"random", *names, "step (paper, 1 clip)"}
    assert "eval_test_gradient" in rows  # a method registered at run time is a row too
    header = next(line for line in text.splitlines() if line.startswith("| Method"))
    assert "Sanity ρ ↓" in header and "Half-clip grounding ↑" in header
    for name in names:
        cells = rows[name]
        assert len(cells) == header.count("|") - 2
        values = [float(m) for c in cells[:-2] for m in re.findall(r"-?\d+\.\d+", c)[:1]]
        assert len(values) == 8  # every measure defined on every clip set of the quick run
        assert all(-1.0 <= v <= 1.0 for v in values)
        assert cells[-2] == "3"
    # a method that ignores the model fails the sanity check: the random floor scores 1 on every clip
    assert rows["random"][7].startswith("1.000")

    # the demo transformer's section: the attention methods and the generic ones people run on it
    section = text.split("## The demo transformer", 1)[1]
    t_rows = _rows(section)
    assert list(t_rows) == list(bench.TRANSFORMER_METHODS)
    assert "Options: layer='model.blocks.2.norm1'" in section  # Grad-CAM on the last block's input
    for cells in t_rows.values():
        values = [float(m) for c in cells[:-2] for m in re.findall(r"-?\d+\.\d+", c)[:1]]
        assert len(values) == 8 and all(-1.0 <= v <= 1.0 for v in values)
        assert cells[-2] == "3"
    assert t_rows["random"][7].startswith("1.000")

    # a second run with the same settings reads every row back from the cache
    register_method(
        "eval_test_gradient", _plain_gradient, summary="a method registered by the test."
    )
    try:
        bench.main([*argv[:-1], str(tmp_path / "again.md"), "--methods", "random,saliency"])
    finally:
        unregister_method("eval_test_gradient")
    again = (tmp_path / "again.md").read_text(encoding="utf-8")
    assert "read back from it" in again and "--cache" not in again.split("```")[1]
    assert _rows(again)["saliency"] == rows["saliency"]


def test_bad_arguments_are_named() -> None:
    bench = _load()
    with pytest.raises(SystemExit):
        bench.parse_args(["--clips", "4", "--sanity-clips", "5"])
    with pytest.raises(ValueError, match="not a registered method"):
        bench.select_methods("saliency,nope")
    with pytest.raises(ValueError, match=r"--methods: attention_rollout .*transformer section"):
        bench.select_methods("saliency,attention_rollout")
    assert bench.select_methods("rollout,grad_cam", transformer=True) == [
        "attention_rollout",
        "grad_cam",
    ]
