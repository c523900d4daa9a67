"""``videoattr evaluate`` end to end on a generated UCF101-24-format dataset with the demo model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.datasets.formats import Video, write_act
from videoattr.cli import main

LABELS = ["right", "down", "left", "up"]
PER_CLASS = [2, 1, 1, 1]  # an unbalanced set
H = W = 56 * 56


def _videos() -> list[Video]:
    """64 x 64 frames (the demo model crops 56 x 56 at offset 4): a 20 x 20 box on frames 1..10+j."""
    out = []
    j = 0
    for label, count in enumerate(PER_CLASS):
        for k in range(count):
            boxed = {f: (14, 10, 33, 29) for f in range(1, 11 + j)}  # inclusive: 20 x 20 px
            out.append(
                Video(f"{LABELS[label]}/v_{LABELS[label]}_g{k:02d}", label, 20, (64, 64), boxed)
            )
            j += 1
    return out


def _box_frames(j: int) -> int:
    """Of the sampled frames 5..20 (1-based), those with a box (frames 1 .. 10 + j)."""
    return max(0, 10 + j - 4)


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "evaluate", "--dataset", "ucf101-24", "--root", str(root), "--model", "demo",
        "--method", "saliency", "--out", str(out), "--num-workers", "0",
        "--no-progress", "--resamples", "50", "--protocol", "both", "--tolerance", "0",
        "--batch-size", "1", "--pairs", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ucf")
    write_act(root, _videos(), LABELS)
    return root


@pytest.fixture(scope="module")
def finished(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "out"
    assert main(_args(dataset, out)) == 0
    return out


def _rows(out: Path) -> dict[str, Any]:
    """The table's rows by method, without the timing (the one thing a rerun changes)."""
    table = json.loads((out / "table.json").read_text())
    return {
        r["method"]: {k: v for k, v in r.items() if k != "seconds_per_video"} for r in table["rows"]
    }


def test_oracle_scores_one_and_random_its_expected_value(finished: Path) -> None:
    rows = _rows(finished)
    assert set(rows) == {"saliency", "oracle", "random"}
    assert rows["oracle"]["pointing"]["mean"] == 1.0
    assert rows["oracle"]["mass"]["mean"] == 1.0
    # by hand: a 20 x 20 box on a 56 x 56 clip; the correct game scores only the frames with a box
    assert rows["random"]["pointing"]["mean"] == pytest.approx(400 / H)
    # reference: the integer box (10, 6, 30, 26) -> 21 x 21 peak positions; frames without a box
    # score a hit only at the origin (tolerance 0); pooled per class, then averaged over classes
    per_class: list[list[tuple[float, float]]] = [[] for _ in LABELS]
    mass: list[list[float]] = [[] for _ in LABELS]
    j = 0
    for label, count in enumerate(PER_CLASS):
        for _ in range(count):
            nb = _box_frames(j)
            per_class[label].append(((nb * 441 + (16 - nb) * 1) / H, 16))
            mass[label].append(nb * 400 / (16 * H))
            j += 1
    reference = sum(sum(h for h, _ in c) / sum(n for _, n in c) for c in per_class) / 4
    assert rows["random"]["pointing_reference"]["mean"] == pytest.approx(reference)
    assert rows["random"]["mass"]["mean"] == pytest.approx(sum(sum(m) / len(m) for m in mass) / 4)
    # the oracle under the reference protocol: mirrored test of the box's top-left pixel (10, 6):
    # row 6 in x-range 10..30 fails, and frames without a box peak at the origin (a hit)
    ref_oracle = (
        sum(
            sum(16 - _box_frames(j) for j in _class_videos(c)) / (16 * len(_class_videos(c)))
            for c in range(4)
        )
        / 4
    )
    assert rows["oracle"]["pointing_reference"]["mean"] == pytest.approx(ref_oracle)
    # joined pairs: the oracle puts all its mass in the target's half; a random map scores 0.5
    assert rows["oracle"]["grounding"]["mean"] == 1.0
    assert rows["random"]["grounding"]["mean"] == 0.5
    for name in ("saliency",):
        assert 0.0 <= rows[name]["grounding"]["mean"] <= 1.0
        assert rows[name]["videos"] == 5 and rows[name]["failed"] == 0
        assert 0.0 <= rows[name]["pointing"]["mean"] <= 1.0 and rows[name]["pointing"]["se"] >= 0


def _class_videos(label: int) -> list[int]:
    start = sum(PER_CLASS[:label])
    return list(range(start, start + PER_CLASS[label]))


def test_the_outputs_are_written(finished: Path) -> None:
    table = json.loads((finished / "table.json").read_text())
    assert table["config"]["dataset"] == "ucf101-24" and table["config"]["num_classes"] == 4
    assert table["config"]["model"] == "demo" and table["config"]["weights"] == "bundled"
    assert {"videoattr", "torch", "numpy"} <= set(table["versions"])
    csv_lines = (finished / "table.csv").read_text().splitlines()
    assert csv_lines[0].startswith("method,baseline,pointing,pointing_se,pointing_reference")
    assert len(csv_lines) == 4
    md = (finished / "table.md").read_text()
    assert "| saliency |" in md and "Pointing (reference protocol)" in md
    pairs = (finished / "scores" / "saliency-pairs.csv").read_text().splitlines()
    assert len(pairs) == 6 and pairs[0] == "id,label,half,peak_frame"
    scores = (finished / "scores" / "saliency.csv").read_text().splitlines()
    assert len(scores) == 6 and scores[0].startswith("id,label,hits,frames")
    from PIL import Image

    with Image.open(finished / "figure.png") as im:
        assert im.size[0] > 300 and im.size[1] > 200


def test_killed_and_resumed_gives_the_same_table(
    dataset: Path, finished: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "videoattr", *_args(dataset, out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "runs" / "saliency" / "results"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_dir() and len([p for p in results.iterdir() if p.suffix == ".npz"]) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the evaluation ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "table.json").exists()
    assert main(_args(dataset, out)) == 0
    assert (out / "runs" / "saliency-pairs" / "manifest.json").is_file()
    rank = json.loads((out / "runs" / "saliency" / "ranks" / "rank0.json").read_text())
    assert rank["skipped"] >= 2  # the results written before the kill were kept
    assert _rows(out) == _rows(finished)


def test_a_checkpoint_for_other_classes_is_refused_in_one_line(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "kinetics.pth"
    torch.save({"fc.weight": torch.zeros(400, 8), "fc.bias": torch.zeros(400)}, weights)
    args = _args(dataset, tmp_path / "o")
    args[args.index("demo")] = "r2plus1d_18"
    assert main([*args, "--weights", str(weights)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "its classifier fc.weight has 400 outputs, but ucf101-24 has 4 classes" in err[0]


def test_demo_model_on_other_class_names_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_act(
        tmp_path / "d", _videos()[:2], ["Basketball", "Biking", "Diving", "Fencing"], frames=False
    )
    assert main(_args(tmp_path / "d", tmp_path / "o")) == 2
    assert "--model demo has the 4 classes" in capsys.readouterr().err


def test_broken_videos_are_listed_or_stop_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = _videos()[:3]
    videos.append(Video("up/v_up_g09", 3, 20, (64, 64), {1: (60, 10, 70, 20)}))  # outside
    # inclusive x2 == W: one pixel past the edge, clipped to the frame and counted
    videos.append(Video("up/v_up_g10", 3, 20, (64, 64), {f: (50, 10, 64, 20) for f in (5, 6)}))
    write_act(tmp_path / "d", videos, LABELS)
    assert main(_args(tmp_path / "d", tmp_path / "o")) == 0
    captured = capsys.readouterr()
    assert "1 video(s) skipped" in captured.err and "outside its 64 x 64 frame" in captured.err
    assert "2 box(es) of 1 video(s) passed the frame's edge" in captured.err
    table = json.loads((tmp_path / "o" / "table.json").read_text())
    assert table["config"]["num_videos"] == 4 and len(table["skipped"]) == 1
    assert table["boxes_clipped"] == 2 and table["clipped"] == [
        {"video": "up/v_up_g10", "boxes": 2}
    ]
    markdown = (tmp_path / "o" / "table.md").read_text()
    assert "1 skipped, boxes clipped: 2" in markdown and "- `up/v_up_g10`: 2 boxes" in markdown
    assert main(_args(tmp_path / "d", tmp_path / "o2", "--on-problem", "error")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert (
        len(errors) == 1
        and "'up/v_up_g09': frame 1: box (60, 10, 71, 21) lies outside" in errors[0]
    )
