"""Dataset runs over whole videos: ``run(..., whole_videos=True)`` and ``videoattr run --whole-video``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.runner.tiny import CLASS_NAMES, CORRUPT, build, tiny_adapter
from videoattr import io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion
from videoattr.pipeline import explain_video, read_frames
from videoattr.runner import ResultStore, run
from videoattr.runner.videos import video_explanation

STRIDE = 3


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two videos longer than the tiny model's 8-frame clips, one shorter, one corrupt file."""
    folder = tmp_path_factory.mktemp("long_videos")
    for i, frames in enumerate((20, 13, 5)):
        sample = SyntheticMotion(num_classes=4, clip_len=frames, size=32, seed=7).render(i)
        io.write_video(folder / f"{CLASS_NAMES[sample.label]}-{i}.gif", sample.frames)
    (folder / f"{CORRUPT}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return folder


def whole_run(videos: Path, out: Path, **kw: object) -> object:
    adapter = tiny_adapter()
    options: dict[str, object] = {
        "whole_videos": True,
        "window_stride": STRIDE,
        "num_workers": 0,
        "progress": False,
        "device": "cpu",
        "batch_size": 2,
    }
    options.update(kw)
    return run(videos, adapter, build("grad", adapter), out, **options)  # type: ignore[arg-type]


def test_each_video_is_explained_whole_as_explain_video_does(videos: Path, tmp_path: Path) -> None:
    summary = whole_run(videos, tmp_path / "out")
    assert (summary.done, summary.failed) == (3, 1)  # type: ignore[attr-defined]
    assert str(summary).startswith("4 videos: 3 done, 0 skipped, 1 failed")
    store = ResultStore(tmp_path / "out")
    adapter = tiny_adapter()
    explainer = build("grad", adapter)
    for path in sorted(videos.glob("*.gif")):
        maps, meta = store.read_result(path.stem)
        video = read_frames(path, adapter)
        # the label in the name is the class explained, as for clips
        assert meta["target"]["name"] == path.stem.split("-")[0] and meta["label_is_target"]
        direct = explain_video(
            adapter,
            explainer,
            video,
            target=meta["target"]["index"],
            stride=STRIDE,
            max_batch_size=2,
            key=path.stem,
        )
        assert maps.shape == (1, len(video), 32, 32) == tuple(direct.maps.shape)
        torch.testing.assert_close(torch.from_numpy(maps), direct.maps, rtol=0, atol=1e-6)
        assert meta["num_frames"] == video.num_frames and meta["source"] == str(path)
        assert np.allclose(meta["probabilities"], direct.probabilities.numpy(), atol=1e-6)
        rebuilt = video_explanation(maps, meta, CLASS_NAMES)[0]
        assert torch.equal(rebuilt.window_starts, direct.window_starts)
        assert torch.equal(rebuilt.coverage, direct.coverage)
        assert rebuilt.summary()["windows"] == meta["windows"]
    failure = store.read_failure(CORRUPT)
    assert "VideoReadError" in failure["error"]


def test_a_padded_short_video_names_its_window_up_to_the_last_frame(
    videos: Path, tmp_path: Path
) -> None:
    whole_run(videos, tmp_path / "out")
    maps, meta = ResultStore(tmp_path / "out").read_result(
        next(p.stem for p in videos.glob("*-2.gif"))
    )
    result = video_explanation(maps, meta, CLASS_NAMES)[0]
    assert result.padded == 3 and len(result.window_starts) == 1
    assert result.fps is not None
    # the window's 8 frames are the video's 5 and 3 repeats: it ends with the video's 5th frame
    assert result.window_span(0) == f"0.0-{5 / result.fps:.1f} s" != f"0.0-{8 / result.fps:.1f} s"


def test_a_rerun_resumes_and_other_settings_are_refused(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    whole_run(videos, out)
    again = whole_run(videos, out)
    assert (again.done, again.skipped) == (0, 3)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"other settings|whole_videos"):
        whole_run(videos, out, window_stride=STRIDE + 1)
    adapter = tiny_adapter()
    with pytest.raises(ValueError, match=r"other settings|whole_videos"):
        run(videos, adapter, build("grad", adapter), out, num_workers=0, progress=False)


def test_top_k_classes_give_one_stack_of_maps_per_class(videos: Path, tmp_path: Path) -> None:
    whole_run(videos, tmp_path / "out", target="top2")
    path = sorted(videos.glob("*.gif"))[0]
    maps, meta = ResultStore(tmp_path / "out").read_result(path.stem)
    adapter = tiny_adapter()
    video = read_frames(path, adapter)
    mean = torch.tensor(meta["probabilities"]).mean(dim=0)
    expected = mean.topk(2).indices.tolist()
    assert [t["index"] for t in meta["targets"]] == expected
    assert maps.shape == (2, 1, len(video), 32, 32) and meta["map_shape"] == list(maps.shape)
    for k, target in enumerate(expected):
        direct = explain_video(
            adapter,
            build("grad", adapter),
            video,
            target=target,
            stride=STRIDE,
            max_batch_size=2,
            key=path.stem,
        )
        torch.testing.assert_close(torch.from_numpy(maps[k]), direct.maps, rtol=0, atol=1e-6)
    rebuilt = video_explanation(maps, meta, CLASS_NAMES)
    assert [r.target for r in rebuilt] == expected


def test_short_videos_can_be_refused(videos: Path, tmp_path: Path) -> None:
    summary = whole_run(videos, tmp_path / "out", short_video="error")
    assert summary.failed == 2  # type: ignore[attr-defined]
    short = next(p.stem for p in videos.glob("*-2.gif"))
    assert "VideoTooShortError" in ResultStore(tmp_path / "out").read_failure(short)["error"]


def test_window_settings_need_whole_videos(videos: Path, tmp_path: Path) -> None:
    adapter = tiny_adapter()
    with pytest.raises(ValueError, match="only with whole_videos=True"):
        run(videos, adapter, build("grad", adapter), tmp_path / "out", window_stride=2)
    with pytest.raises(ValueError, match="window_stride"):
        whole_run(videos, tmp_path / "out", window_stride=0)


def test_command_line_run_and_render_of_whole_videos(
    videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``videoattr run --whole-video`` on the demo model, then ``videoattr render`` of its results."""
    folder = tmp_path / "videos"
    folder.mkdir()
    sample = SyntheticMotion(num_classes=4, clip_len=24, size=56, seed=1).render(0)
    io.write_video(folder / f"{CLASS_NAMES[sample.label]}-long.gif", sample.frames)
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--videos-dir",
            str(folder),
            "--out",
            str(out),
            "--model",
            "demo",
            "--method",
            "grad_cam",
            "--whole-video",
            "--window-stride",
            "4",
            "--num-workers",
            "0",
            "--no-progress",
        ]
    )
    assert code == 0
    maps, meta = ResultStore(out).read_result(f"{CLASS_NAMES[sample.label]}-long")
    assert maps.shape == (1, 24, 56, 56) and len(meta["windows"]) == 3  # starts 0, 4, 8
    assert main(["render", str(out), "--format", "png", "--sheet-frames", "4"]) == 0
    pictures = out / "pictures"
    stem = f"{CLASS_NAMES[sample.label]}-long"
    assert (pictures / f"{stem}.png").stat().st_size > 0
    assert (pictures / f"{stem}.timeline.png").stat().st_size > 0
    assert "1 of 1 results rendered" in capsys.readouterr().out
    code = main(
        ["run", "--videos-dir", str(folder), "--out", str(tmp_path / "x"), "--window-stride", "4"]
    )
    assert code == 2
    assert "--window-stride applies only with --whole-video" in capsys.readouterr().err


def test_settings_are_checked_before_any_video_and_clip_runs_keep_their_record(
    videos: Path, tmp_path: Path
) -> None:
    import json

    with pytest.raises(ValueError, match="window_stride must be at most the model's clip_len"):
        whole_run(videos, tmp_path / "a", window_stride=9)  # the tiny model's clips are 8 frames
    adapter = tiny_adapter()
    run(videos, adapter, build("grad", adapter), tmp_path / "clips", num_workers=0, progress=False)
    record = json.loads((tmp_path / "clips" / "run.json").read_text())
    assert "whole_videos" not in record["config"] and "blur" not in record["rounding"]


def test_a_dataset_of_videos_read_with_another_frame_step_is_refused(
    videos: Path, tmp_path: Path
) -> None:
    adapter = tiny_adapter()
    items = [(read_frames(p, adapter), p.stem.split("-")[0]) for p in sorted(videos.glob("*.gif"))]
    summary = whole_run(items, tmp_path / "out", frame_step=2)  # type: ignore[arg-type]
    assert summary.failed == 3  # type: ignore[attr-defined]
    error = ResultStore(tmp_path / "out").read_failure("000000")["error"]
    assert "frame_step=1" in error and "frame_step is 2" in error
    again = whole_run(items, tmp_path / "ok")  # type: ignore[arg-type]
    assert again.done == 3  # type: ignore[attr-defined]


def test_one_class_name_is_one_class_and_the_windows_are_scored_once(
    videos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videoattr.pipeline import explain_video_classes, whole_video

    adapter = tiny_adapter()
    video = read_frames(sorted(videos.glob("*.gif"))[0], adapter)
    calls = []
    scoring = whole_video.score_windows
    monkeypatch.setattr(
        whole_video, "score_windows", lambda *a, **k: calls.append(1) or scoring(*a, **k)
    )
    results = list(explain_video_classes(adapter, "saliency", video, "down", stride=STRIDE))
    assert [r.target for r in results] == [CLASS_NAMES.index("down")] and len(calls) == 1
    calls.clear()
    results = list(explain_video_classes(adapter, "saliency", video, 3, stride=STRIDE))
    assert len(results) == 3 and len(calls) == 1
    with pytest.raises(ValueError, match="stride"):
        explain_video_classes(adapter, "saliency", video, [0], stride=9)  # at the call


def test_command_line_frame_step_and_a_changed_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    sample = SyntheticMotion(num_classes=4, clip_len=40, size=56, seed=2).render(0)
    video_path = folder / f"{CLASS_NAMES[sample.label]}-long.gif"
    io.write_video(video_path, sample.frames)
    out = tmp_path / "run"
    args = ["run", "--videos-dir", str(folder), "--out", str(out), "--model", "demo"]
    args += ["--method", "saliency", "--whole-video", "--frame-step", "2", "--window-stride", "4"]
    assert main([*args, "--num-workers", "0", "--no-progress"]) == 0
    maps, meta = ResultStore(out).read_result(video_path.stem)
    assert maps.shape[1] == 20 and meta["frame_indices"][:3] == [0, 2, 4]
    assert [w["start"] for w in meta["windows"]] == [0, 8]  # sampled starts 0 and 4
    assert main(["render", str(out), "--format", "png"]) == 0
    io.write_video(video_path, sample.frames[:30])  # the source changed after the run
    assert main(["render", str(out), "--format", "png"]) == 1
    assert "changed since the result was made" in capsys.readouterr().err  # its fingerprint
