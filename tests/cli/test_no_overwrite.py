"""No command writes over a file it did not create (issue 21, items 1 and 2), end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from videoattr import demo_model, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion

FAST = ["--model", "demo", "--method", "grad", "--no-gpu", "--no-progress"]


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]


def hashes(folder: Path) -> dict[Path, str]:
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_line(err: str, *words: str) -> str:
    lines = [x for x in err.splitlines() if x.strip() and "warning:" not in x and "note:" not in x]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_render_into_the_videos_folder_is_refused(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "V"
    videos.mkdir()
    io.write_video(videos / "right-1.mp4", frames, fps=8)
    io.write_video(videos / "left-2.mp4", frames.flip(2), fps=8)
    run = tmp_path / "R"
    args = ["run", "--videos-dir", str(videos), "--out", str(run), *FAST, "--num-workers", "0"]
    assert main(args) == 0
    capsys.readouterr()
    before = hashes(videos)
    code = main(["render", str(run), "--out", str(videos)])
    assert code == 2
    one_line(capsys.readouterr().err, "refusing to write", str(videos / "left-2"), "input")
    assert hashes(videos) == before  # no source touched, nothing added


def test_explain_never_writes_over_a_source_at_an_output_path(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "E"
    source = out / "saliency" / "demo" / "right" / "right-a.mp4"
    source.parent.mkdir(parents=True)
    io.write_video(source, frames, fps=8)
    before = hashes(tmp_path)
    for how in (["--video", str(source)], ["--videos-dir", str(source.parent)]):
        code = main(["explain", *how, *FAST, "--out", str(out)])
        assert code == 2
        one_line(capsys.readouterr().err, "refusing to write", str(source))
        assert hashes(tmp_path) == before


def test_a_file_the_command_did_not_write_is_refused_and_a_rerun_replaces_its_own(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    out = tmp_path / "E"
    args = ["explain", "--video", str(video), *FAST, "--out", str(out)]
    assert main(args) == 0
    assert main(args) == 0  # the same command again replaces its own files
    capsys.readouterr()
    folder = out / "saliency" / "demo" / "right"
    mine = folder / "right-1.png"
    mine.unlink()
    mine.write_bytes(b"a picture a person put here")  # not written by videoattr
    before = hashes(tmp_path)
    assert main(args) == 2
    one_line(capsys.readouterr().err, str(mine), "did not write")
    assert hashes(tmp_path) == before
    # another video with the same name does not replace the first one's files
    mine.unlink()
    assert main(args) == 0
    other = tmp_path / "elsewhere" / "right-1.mp4"
    io.write_video(other, frames.flip(1), fps=8)
    capsys.readouterr()
    before = hashes(tmp_path)
    assert main(["explain", "--video", str(other), *FAST, "--out", str(out)]) == 2
    one_line(capsys.readouterr().err, "holds the output for", str(video.resolve()))
    assert hashes(tmp_path) == before


def test_render_twice_replaces_its_pictures_but_not_another_runs(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "V"
    videos.mkdir()
    io.write_video(videos / "right-1.mp4", frames, fps=8)
    for run in ("R1", "R2"):
        args = ["run", "--videos-dir", str(videos), "--out", str(tmp_path / run), *FAST]
        assert main([*args, "--num-workers", "0"]) == 0
    pictures = tmp_path / "P"
    render = ["render", str(tmp_path / "R1"), "--out", str(pictures), "--format", "png"]
    assert main(render) == 0
    assert main(render) == 0
    capsys.readouterr()
    before = hashes(tmp_path)
    assert main(["render", str(tmp_path / "R2"), "--out", str(pictures), "--format", "png"]) == 2
    one_line(capsys.readouterr().err, str(pictures / "right-1.png"), "R1")
    assert hashes(tmp_path) == before


def test_sources_that_share_a_name_get_their_own_outputs(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "D"
    videos.mkdir()
    io.write_video(videos / "right-a.mp4", frames, fps=8)
    io.write_video(videos / "right-a.avi", frames.flip(2), fps=8)
    io.write_frames(videos / "right-a", frames.flip(1))
    before = hashes(videos)
    out = tmp_path / "E"
    assert main(["explain", "--videos-dir", str(videos), *FAST, "--out", str(out)]) == 0
    assert "3 of 3 videos explained" in capsys.readouterr().out
    records = sorted((out / "saliency" / "demo" / "right").glob("*.json"))
    assert len(records) == 3
    assert sorted(Path(json.loads(r.read_text())["video"]).name for r in records) == [
        "right-a",
        "right-a.avi",
        "right-a.mp4",
    ]
    assert hashes(videos) == before


def test_outputs_written_before_the_ledger_are_still_replaced_by_the_same_command(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoattr.io.overwrite import LEDGER

    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    out = tmp_path / "E"
    args = ["explain", "--video", str(video), *FAST, "--out", str(out)]
    assert main(args) == 0
    (out / LEDGER).unlink()  # as an older version left its folder
    assert main(args) == 0
    other = tmp_path / "b" / "right-1.mp4"
    io.write_video(other, frames.flip(1), fps=8)
    (out / LEDGER).unlink()
    capsys.readouterr()
    assert main(["explain", "--video", str(other), *FAST, "--out", str(out)]) == 2
    one_line(capsys.readouterr().err, "did not write")
