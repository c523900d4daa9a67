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
