"""A run folder holds one run: other runs' folders, swapped results, changed sources and the run's
own outputs inside the videos folder (issue 21, items 6, 7, 8 and 19)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.runner.tiny import make_videos, tiny_adapter
from videoattr.runner import ResultStore, run

QUIET = {"num_workers": 0, "progress": False, "batch_size": 2}


def test_a_folder_of_another_run_without_run_json_is_refused(tmp_path: Path) -> None:
    videos = tmp_path / "V"
    make_videos(videos, 2, corrupt=False)
    out = tmp_path / "out"
    run(videos, tiny_adapter(), "grad", out, **QUIET)
    (out / "run.json").unlink()  # another run's files, settings unknown
    manifest = (out / "manifest.json").read_bytes()
    with pytest.raises(ValueError, match=r"holds the files of another run \(manifest.json"):
        run(videos, tiny_adapter(), "grad", out, **QUIET)
    assert (out / "manifest.json").read_bytes() == manifest


def test_a_run_of_another_videos_folder_is_refused_and_the_same_one_resumes(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "A", tmp_path / "B"
    make_videos(first, 2, corrupt=False)
    make_videos(second, 3, corrupt=False)
    out = tmp_path / "out"
    run(first, tiny_adapter(), "grad", out, **QUIET)
    manifest = (out / "manifest.json").read_bytes()
    with pytest.raises(ValueError, match=f"holds a run of {first.resolve()}.*reads {second}"):
        run(second, tiny_adapter(), "grad", out, **QUIET)
    assert (out / "manifest.json").read_bytes() == manifest
    again = run(first, tiny_adapter(), "grad", out, **QUIET)
    assert (again.done, again.skipped) == (0, 2)


def test_swapped_results_are_redone(tmp_path: Path) -> None:
    videos = tmp_path / "V"
    ids = make_videos(videos, 2, corrupt=False)
    out = tmp_path / "out"
    run(videos, tiny_adapter(), "grad", out, **QUIET)
    store = ResultStore(out)
    a, b = (store.result_path(i) for i in ids)
    tmp = a.with_name("swap")
    os.replace(a, tmp)
    os.replace(b, a)
    os.replace(tmp, b)
    again = run(videos, tiny_adapter(), "grad", out, **QUIET)
    assert (again.done, again.skipped) == (2, 0)
    for clip_id in ids:
        assert store.read_meta(clip_id)["id"] == clip_id


def test_a_source_replaced_by_other_content_is_redone(tmp_path: Path) -> None:
    videos = tmp_path / "V"
    ids = make_videos(videos, 2, corrupt=False)
    out = tmp_path / "out"
    run(videos, tiny_adapter(), "grad", out, **QUIET)
    store = ResultStore(out)
    before = store.read_meta(ids[0])
    assert before["source_fingerprint"].startswith("v1:")
    # the same frame count, other frames
    shutil.copy(videos / f"{ids[1]}.gif", videos / f"{ids[0]}.gif")
    again = run(videos, tiny_adapter(), "grad", out, **QUIET)
    assert (again.done, again.skipped) == (1, 1)
    assert store.read_meta(ids[0])["source_fingerprint"] != before["source_fingerprint"]


@pytest.mark.parametrize("inside", [".", "out"])
def test_the_run_never_reads_its_own_outputs_as_videos(inside: str, tmp_path: Path) -> None:
    videos = tmp_path / "V"
    make_videos(videos, 2, corrupt=False)
    out = videos / inside
    for _ in range(2):
        summary = run(videos, tiny_adapter(), "grad", out, **QUIET)
        assert summary.failed == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"total": 2, "done": 2, "failed": 0, "missing": 0}


def test_an_output_folder_inside_a_frame_folder_is_refused(tmp_path: Path) -> None:
    videos = tmp_path / "V"
    make_videos(videos, 1, corrupt=False)
    from videoattr import io

    frames = io.read_video(next(videos.iterdir()))
    io.write_frames(videos / "left-frames", frames)
    with pytest.raises(ValueError, match="lies inside the input"):
        run(videos, tiny_adapter(), "grad", videos / "left-frames" / "out", **QUIET)
