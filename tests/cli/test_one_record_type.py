"""One record type per result: what ``explain`` and ``run`` write, ``render`` reads through it;
records written before they had a version still read and still resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from videoattr import demo_model, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion
from videoattr.pipeline import records
from videoattr.pipeline.records import RECORD_VERSION, ClipRecord, VideoRecord
from videoattr.runner import ResultStore

COMMON = ["--model", "demo", "--no-gpu", "--no-progress", "--method", "saliency"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    batch = SyntheticMotion(seed=7, **demo_model.DATASET_KWARGS).sample(1)
    io.write_video(folder / "left-0.gif", batch.frames[0], fps=8)
    return folder


def _counting(monkeypatch: pytest.MonkeyPatch, cls: Any) -> list[int]:
    calls: list[int] = []
    read = cls.from_meta.__func__

    def counted(c: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return read(c, *args, **kwargs)

    monkeypatch.setattr(cls, "from_meta", classmethod(counted))
    return calls


def test_explain_and_run_write_one_record_that_render_reads(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explained = tmp_path / "explained"
    assert main(["explain", "--videos-dir", str(videos), *COMMON, "--out", str(explained)]) == 0
    (json_file,) = explained.rglob("*.json")
    written = json.loads(json_file.read_text())
    assert written["version"] == RECORD_VERSION
    from_explain = ClipRecord.from_meta(written)
    (result,) = from_explain.explanations(np.load(json_file.with_suffix(".npz"))["maps"])
    assert result.target == written["target"]["index"] and result.maps.shape[:2] == (1, 1)

    run_dir = tmp_path / "run"
    run_args = ["run", "--videos-dir", str(videos), *COMMON, "--out", str(run_dir)]
    assert main([*run_args, "--num-workers", "0"]) == 0
    store = ResultStore(run_dir)
    maps, meta = store.read_result("left-0")
    from_run = ClipRecord.from_meta(meta)
    assert from_run.version == RECORD_VERSION and from_run.extra["id"] == "left-0"
    assert from_run.method == from_explain.method == "saliency"
    assert from_run.targets[0].target == from_explain.targets[0].target
    assert from_run.prediction.index == from_explain.prediction.index
    np.testing.assert_allclose(maps, np.load(json_file.with_suffix(".npz"))["maps"], rtol=1e-5)

    calls = _counting(monkeypatch, ClipRecord)
    assert main(["render", str(run_dir), "--format", "png"]) == 0
    assert calls == [1]  # render read the result through the record type
    assert (run_dir / "pictures" / "left-0.png").is_file()

    # A result written before records had a version: read the same, skipped on resume, rendered.
    old = {k: v for k, v in meta.items() if k not in ("version", "checksum")}
    store.write_result("left-0", maps, old)
    assert "version" not in store.read_meta("left-0")
    assert ClipRecord.from_meta(store.read_meta("left-0")).version == 0
    assert main([*run_args, "--num-workers", "0"]) == 0
    assert "version" not in store.read_meta("left-0")  # not redone: it was complete
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["last_run"]["skipped"] == 1 and manifest["last_run"]["done"] == 0
    assert main(["render", str(run_dir), "--format", "png", "--out", str(tmp_path / "p2")]) == 0
    assert (tmp_path / "p2" / "left-0.png").is_file()


def test_whole_video_results_read_through_their_record(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    args = ["run", "--videos-dir", str(videos), *COMMON, "--out", str(run_dir), "--whole-video"]
    assert main([*args, "--num-workers", "0"]) == 0
    store = ResultStore(run_dir)
    maps, meta = store.read_result("left-0")
    assert meta["version"] == RECORD_VERSION
    (result,) = VideoRecord.from_meta(meta, maps).results
    assert result.target == meta["target"]["index"] and tuple(result.maps.shape) == maps.shape
    old = {k: v for k, v in meta.items() if k not in ("version", "checksum")}
    store.write_result("left-0", maps, old)
    calls = _counting(monkeypatch, VideoRecord)
    assert main(["render", str(run_dir), "--format", "png"]) == 0
    assert calls == [1]
    assert (run_dir / "pictures" / "left-0.timeline.png").is_file()


def test_a_newer_record_is_refused_in_one_line() -> None:
    meta = {
        "version": RECORD_VERSION + 1,
        "method": "saliency",
        "prediction": {"index": 0, "name": None, "prob": 0.5},
        "target": {"index": 0, "name": None, "prob": 0.5},
    }
    with pytest.raises(ValueError, match="newer than this videoattr reads"):
        ClipRecord.from_meta(meta)
    assert records.ClipRecord.from_meta({**meta, "version": 0}).targets[0].target.prob == 0.5
