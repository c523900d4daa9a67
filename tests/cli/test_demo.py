"""``videoattr demo --model demo-transformer`` and ``explain`` with the shipped demo transformer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoattr import demo_transformer, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion


def test_demo_with_the_transformer_runs_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--model", "demo-transformer", "--iterations", "2", "--no-gpu", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "model demo-transformer" in stdout
    for method in ("grad_cam", "attention_rollout", "attention_relevance", "step"):
        (summary,) = (out / method).rglob("*.json")
        record = json.loads(summary.read_text())
        assert record["model"] == "demo-transformer" and record["weights"] == "bundled"
        assert summary.with_suffix(".png").is_file() and summary.with_suffix(".npz").is_file()
        assert f"{method}: predicted" in stdout


def test_demo_refuses_an_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--model", "r3d_18", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "--model" in capsys.readouterr().err


def test_explain_with_the_transformer_uses_its_bundled_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = SyntheticMotion(seed=5, **demo_transformer.DATASET_KWARGS).sample(1)
    video = tmp_path / "clip.mp4"
    io.write_video(video, batch.frames[0], fps=8)
    out = tmp_path / "res"
    args = ["explain", "--video", str(video), "--model", "demo-transformer", "--no-gpu"]
    assert main([*args, "--method", "attention_relevance", "--out", str(out)]) == 0
    assert "random weights" not in capsys.readouterr().err
    (summary,) = (out / "attention_relevance" / "demo-transformer").rglob("*.json")
    record = json.loads(summary.read_text())
    assert record["weights"] == "bundled"


class _Built(Exception):
    """Raised by the recording builder once STEP's options are known (the demo stops there)."""


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], {"preset": "fast", "progress": False}),
        (["--preset", "paper"], {"preset": "paper", "progress": False}),
        (
            ["--iterations", "3", "--optimizer", "sgd"],
            {"preset": "fast", "progress": False, "max_iter": 3, "optimizer": "sgd"},
        ),
    ],
)
def test_the_demo_passes_the_method_flags_it_sets_and_leaves_out_the_others(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    expected: dict[str, object],
) -> None:
    """A flag left out leaves STEP's preset value (``None`` is a value for the methods)."""
    from videoattr.cli import demo

    seen: dict[str, dict[str, object]] = {}

    def record(name: str, model: object, **options: object) -> None:
        seen[name] = options
        raise _Built

    def skip_to_step(name: str, model: object, **options: object) -> object:
        if name == "step":
            record(name, model, **options)
        from videoattr.methods.registry import build_attributor

        return build_attributor(name, model, **options)  # Grad-CAM runs (the model is a CNN)

    monkeypatch.setattr(demo, "build_attributor", skip_to_step)
    args = ["demo", *flags, "--no-gpu", "--no-progress", "--out", str(tmp_path / "d")]
    with pytest.raises(_Built):
        main(args)
    assert seen["step"] == expected
