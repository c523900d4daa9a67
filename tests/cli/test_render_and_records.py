"""``render`` reproduces ``explain``'s pictures; what the JSON records; presets; ``--download``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videoattr import demo_model, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion

COMMON = ["--model", "demo", "--no-gpu", "--no-progress"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    batch = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(2)
    for i in range(2):
        name = demo_model.CLASS_NAMES[int(batch.labels[i])]
        io.write_video(folder / f"{name}-{i}.mp4", batch.frames[i], fps=8)
    return folder


@pytest.mark.parametrize(
    "method",
    [
        ["--method", "grad_cam"],
        ["--method", "step", "--iterations", "3", "--area", "0.05", "0.2"],
        ["--method", "rise", "--option", "n=16"],
        ["--method", "occlusion", "--option", "window=(8, 28, 28)"],
        ["--method", "score_cam"],
    ],
)
def test_render_reproduces_the_sheet_explain_writes(
    method: list[str], videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    explained = tmp_path / "explained"
    assert (
        main(["explain", "--videos-dir", str(videos), *COMMON, *method, "--out", str(explained)])
        == 0
    )
    run_dir = tmp_path / "run"
    run_args = ["run", "--videos-dir", str(videos), *COMMON, *method, "--out", str(run_dir)]
    assert main([*run_args, "--batch-size", "1", "--num-workers", "0"]) == 0
    capsys.readouterr()
    assert main(["render", str(run_dir), "--format", "png,gif"]) == 0
    assert "2 of 2 results rendered" in capsys.readouterr().out
    sheets = sorted(explained.rglob("*.png"))
    assert len(sheets) == 2
    for sheet in sheets:
        rendered = run_dir / "pictures" / sheet.name
        assert not (
            run_dir / "pictures" / f"{sheet.stem}.mp4"
        ).exists()  # only the formats asked for
        a = np.asarray(Image.open(sheet).convert("RGB"))
        b = np.asarray(Image.open(rendered).convert("RGB"))
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
        gif_a = io.read_video(sheet.with_suffix(".gif"))
        gif_b = io.read_video(rendered.with_suffix(".gif"))
        np.testing.assert_array_equal(gif_a.numpy(), gif_b.numpy())


def test_render_needs_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(tmp_path)]) == 2
    assert "run.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["render", str(tmp_path), "--format", "png,bmp"])


def test_the_json_records_weights_and_preset_under_their_own_keys(
    videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = sorted(videos.iterdir())[0]
    out = tmp_path / "o"
    args = ["explain", "--video", str(video), *COMMON, "--out", str(out)]
    assert main([*args, "--method", "grad_cam"]) == 0
    (cam,) = (out / "grad_cam").rglob("*.json")
    record = json.loads(cam.read_text())
    assert record["weights"] == "bundled" and record["model"] == "demo"
    assert record["settings"]["weights"] == "temporal"  # Grad-CAM's option, in the method's record
    assert record["settings"]["method"] == record["method"] == "grad_cam"
    assert record["preset"] is None

    assert main([*args, "--method", "step", "--iterations", "2"]) == 0
    err = capsys.readouterr().err
    assert "step: preset fast, 2 iterations (adam)" in err and "expected about" in err
    (step,) = (out / "step").rglob("*.json")
    record = json.loads(step.read_text())
    assert record["preset"] == "fast"
    assert record["settings"]["max_iter"] == 2 and record["settings"]["schedule"] == "run"

    assert main([*args, "--method", "step", "--preset", "paper", "--iterations", "2"]) == 0
    record = json.loads(step.read_text())
    assert record["preset"] == "paper" and record["settings"]["optimizer"] == "sgd"
    assert record["settings"]["max_iter"] == 2
    assert main([*args, "--method", "grad", "--preset", "fast"]) == 2
    assert "--preset applies to the perturbation methods" in capsys.readouterr().err


def test_messages_name_command_line_options(
    videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = sorted(videos.iterdir())[0]
    args = ["explain", "--video", str(video), "--no-gpu", "--out", str(tmp_path / "o")]
    code = main([*args, "--model", "r3d_18", "--weights", str(tmp_path / "missing.pth")])
    err = capsys.readouterr().err
    assert code == 2 and "--weights" in err
    assert "weights=" not in err and "download=True" not in err
    code = main([*args, "--model", "demo", "--download"])
    assert code == 2 and "--download" in capsys.readouterr().err


def test_download_is_passed_to_the_zoo(
    monkeypatch: pytest.MonkeyPatch, videos: Path, tmp_path: Path
) -> None:
    from videoattr import zoo

    seen: dict[str, object] = {}
    real = zoo.load

    def load(name: str, weights: object = None, **options: object) -> object:
        seen.update(options)
        return real("demo")

    monkeypatch.setattr(zoo, "load", load)
    video = sorted(videos.iterdir())[0]
    args = [
        "explain",
        "--video",
        str(video),
        "--model",
        "r3d_18",
        "--method",
        "grad_cam",
        "--no-gpu",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "download" not in seen  # offline by default
    assert main([*args, "--download", "--out", str(tmp_path / "b")]) == 0
    assert seen["download"] is True


def test_several_targets_per_clip(videos: Path, tmp_path: Path) -> None:
    video = sorted(videos.iterdir())[0]
    base = ["explain", "--video", str(video), *COMMON, "--method", "grad_cam"]
    assert main([*base, "--target", "top3", "--out", str(tmp_path / "top")]) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "top").rglob("*.json")]
    assert len(records) == 3
    probs = sorted((r["target"]["prob"] for r in records), reverse=True)
    assert probs[0] == pytest.approx(records[0]["prediction"]["prob"])  # the top class first
    assert len({r["target"]["index"] for r in records}) == 3
    names = {r["target"]["name"] for r in records}
    files = {p.name for p in (tmp_path / "top").rglob("*.png")}
    assert files == {f"{video.stem}.{n}.png" for n in names}

    listed = ",".join(demo_model.CLASS_NAMES[:2])
    assert main([*base, "--target", listed, "--out", str(tmp_path / "list")]) == 0
    got = sorted(
        json.loads(p.read_text())["target"]["name"] for p in (tmp_path / "list").rglob("*.json")
    )
    assert got == sorted(demo_model.CLASS_NAMES[:2])
    # Each target's map equals the map of that target alone.
    single = tmp_path / "single"
    assert main([*base, "--target", demo_model.CLASS_NAMES[1], "--out", str(single)]) == 0
    (alone,) = single.rglob("*.npz")
    (together,) = (tmp_path / "list").rglob(f"*.{demo_model.CLASS_NAMES[1]}.npz")
    np.testing.assert_array_equal(np.load(alone)["maps"], np.load(together)["maps"])


def test_a_run_with_several_targets_per_clip_and_its_pictures(
    videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoattr.runner import ResultStore

    method = ["--method", "grad_cam", "--target", "top2"]
    explained = tmp_path / "explained"
    assert (
        main(["explain", "--videos-dir", str(videos), *COMMON, *method, "--out", str(explained)])
        == 0
    )
    run_dir = tmp_path / "run"
    run_args = ["run", "--videos-dir", str(videos), *COMMON, *method, "--out", str(run_dir)]
    assert main([*run_args, "--batch-size", "1", "--num-workers", "0"]) == 0
    store = ResultStore(run_dir)
    for clip_id in sorted(store.complete_ids()):
        maps, meta = store.read_result(clip_id)
        assert maps.shape[0] == 2 and meta["map_shape"] == list(maps.shape)
        names = [t["target"]["name"] for t in meta["targets"]]
        assert len(set(names)) == 2 and names[0] == meta["prediction"]["name"]  # best first
        for k, name in enumerate(names):
            (alone,) = explained.rglob(f"{clip_id}.{name}.npz")
            np.testing.assert_array_equal(np.load(alone)["maps"], maps[k])
    capsys.readouterr()
    assert main(["render", str(run_dir), "--format", "png"]) == 0
    sheets = sorted(explained.rglob("*.png"))
    assert len(sheets) == 4
    for sheet in sheets:
        a = np.asarray(Image.open(sheet).convert("RGB"))
        b = np.asarray(Image.open(run_dir / "pictures" / sheet.name).convert("RGB"))
        np.testing.assert_array_equal(a, b)
