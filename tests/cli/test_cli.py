"""The command line end to end on generated videos: ``python -m videoattr`` in subprocesses, and
``main`` in this process where a new interpreter would add only its start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from videoattr import demo_model, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion

ROOT = Path(__file__).resolve().parents[2]


def videoattr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "videoattr", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def videos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    batch = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(3)
    names = demo_model.CLASS_NAMES
    io.write_video(folder / f"{names[int(batch.labels[0])]}-001.mp4", batch.frames[0], fps=8)
    io.write_video(folder / f"{names[int(batch.labels[1])]}-002.gif", batch.frames[1], fps=8)
    io.write_frames(folder / f"{names[int(batch.labels[2])]}-003", batch.frames[2])
    (folder / "broken-004.mp4").write_bytes(b"this is not a video")
    return folder


def test_explain_folder_writes_outputs_and_reports_the_corrupt_video(
    videos_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "res"
    proc = videoattr(
        "explain",
        "--videos-dir",
        str(videos_dir),
        "--model",
        "demo",
        "--method",
        "step",
        "--area",
        "0.05",
        "0.2",
        "--iterations",
        "5",
        "--no-gpu",
        "--no-progress",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "broken-004.mp4" in proc.stderr and "3 of 4 videos explained, 1 failed" in proc.stdout
    summaries = sorted((out / "step" / "demo").glob("*/*.json"))
    assert len(summaries) == 3
    for summary_path in summaries:
        summary = json.loads(summary_path.read_text())
        label = summary_path.parent.name
        assert (
            summary["target"]["name"] == label
        )  # the label in the file name is the explained class
        assert summary["areas"] == [0.05, 0.2] and len(summary["preserved_prob"]) == 2
        stem = summary_path.with_suffix("")
        masks = np.load(stem.with_suffix(".npz"))["maps"]
        assert masks.shape == (2, 16, 56, 56) and masks.dtype == np.float32
        assert masks.min() >= 0 and masks.max() <= 1
        gif = io.read_video(stem.with_suffix(".gif"))
        mp4 = io.read_video(stem.with_suffix(".mp4"))
        assert gif.shape[0] == 16 and mp4.shape[0] == 16
        from PIL import Image

        with Image.open(stem.with_suffix(".png")) as sheet:
            assert sheet.size[0] > 16 * 56
    assert not list(out.rglob(".*partial*"))


def test_explain_single_video_with_gradient_method_and_save_label(
    videos_dir: Path, tmp_path: Path
) -> None:
    video = next(videos_dir.glob("*-002.gif"))
    proc = videoattr(
        "explain",
        "--video",
        str(video),
        "--model",
        "demo",
        "--method",
        "grad_cam",
        "--save-label",
        "mine",
        "--no-gpu",
        "--out",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (tmp_path / "grad_cam" / "demo" / "mine").iterdir())
    assert files == [f"{video.stem}.{k}" for k in ("gif", "json", "mp4", "npz", "png")]


def test_bad_arguments_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # in this process: the two tests above run the installed entry point in subprocesses
    assert main(["explain", "--videos-dir", str(tmp_path / "missing"), "--model", "demo"]) != 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # argparse's usage error, as the shell sees it
        main(["explain", "--video", "x.mp4", "--method", "nope"])
    code, err = exited.value.code, capsys.readouterr().err
    assert code == 2 and "--method" in err and "not a registered" in err


def test_models_lists_the_zoo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "r2plus1d_18" in out and "demo" in out
