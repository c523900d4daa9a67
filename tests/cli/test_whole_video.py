"""``videoattr explain --whole-video`` on generated videos (in process, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from videoattr import demo_model, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic clips of different motion, one after the other: 27 frames at 8 fps."""
    folder = tmp_path_factory.mktemp("whole")
    batch = SyntheticMotion(seed=7, **demo_model.DATASET_KWARGS).sample(2)
    frames = torch.cat([batch.frames[0], batch.frames[1][:11]])
    path = folder / "down-001.mp4"
    io.write_video(path, frames, fps=8)
    return path


def test_whole_video_writes_stitched_maps_and_the_timeline(
    long_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res"
    code = main(
        [
            "explain",
            "--video",
            str(long_video),
            "--model",
            "demo",
            "--method",
            "saliency",
            "--whole-video",
            "--window-stride",
            "4",
            "--no-gpu",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    folder = out / "saliency" / "demo" / "down"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"down-001.{k}" for k in ("gif", "json", "mp4", "npz", "png", "timeline.png")]
    data = np.load(folder / "down-001.npz")
    assert data["maps"].shape == (1, 27, 56, 56) and data["maps"].dtype == np.float32
    assert data["window_starts"].tolist() == [0, 4, 8, 11]  # the last window ends at the end
    assert data["coverage"].min() >= 1
    summary = json.loads((folder / "down-001.json").read_text())
    assert summary["target"]["name"] == "down"  # the label in the file name
    assert [w["start"] for w in summary["windows"]] == [0, 4, 8, 11]
    probs = [w["target_prob"] for w in summary["windows"]]
    assert probs == pytest.approx(data["probabilities"][:, 1].tolist(), abs=1e-6)
    assert summary["fps"] == pytest.approx(8.0) and summary["num_frames"] == 27
    gif = io.read_video(folder / "down-001.gif")
    assert gif.shape[0] == 27  # every frame of the video
    assert "4 windows of 16" in printed


def test_whole_video_top_targets_and_frame_step(
    long_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res"
    args = ["explain", "--video", str(long_video), "--model", "demo", "--method", "saliency"]
    args += ["--whole-video", "--frame-step", "2", "--target", "top2", "--no-gpu"]
    args += ["--no-progress", "--out", str(out), "--save-label", "x"]
    assert main(args) == 0, capsys.readouterr()
    summaries = sorted((out / "saliency" / "demo" / "x").glob("*.json"))
    assert len(summaries) == 2  # one set of files per target, <video>.<class>
    for s in summaries:
        record = json.loads(s.read_text())
        assert record["frame_step"] == 2 and record["padded"] == 2  # 14 sampled frames < 16
        assert record["map_shape"] == [1, 14, 56, 56]
        assert s.name.split(".")[1] == record["target"]["name"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window-stride", "4"], "--window-stride applies only with --whole-video"),
        (["--whole-video", "--window-stride", "0"], "expected an integer >= 1"),
        (["--whole-video", "--window-stride", "17"], "at most the model's clip length (16)"),
    ],
)
def test_bad_options_fail_clearly(
    long_video: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    args = ["explain", "--video", str(long_video), "--model", "demo", "--method", "saliency"]
    args += ["--no-gpu", "--no-progress", "--out", str(tmp_path / "o"), *extra]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse refuses a bad value
        code = int(exit_.code or 0)
    err = capsys.readouterr()
    assert code != 0 and message in err.err + err.out


def test_a_short_video_fails_with_short_video_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = SyntheticMotion(seed=8, **demo_model.DATASET_KWARGS).sample(1)
    path = tmp_path / "up-002.gif"
    io.write_video(path, batch.frames[0][:9], fps=8)
    args = ["explain", "--video", str(path), "--model", "demo", "--method", "saliency"]
    args += ["--whole-video", "--short-video", "error", "--no-gpu", "--out", str(tmp_path / "o")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "VideoTooShortError" in err and "9 sampled frames" in err
