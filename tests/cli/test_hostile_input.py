"""Hostile file names, bad options and faults on the command line: one-line errors, nothing outside OUT."""

from __future__ import annotations

import errno
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from videoattr import demo_model, io
from videoattr.cli import main
from videoattr.datasets import SyntheticMotion
from videoattr.io.overwrite import LEDGER

FAST = ["--model", "demo", "--method", "grad", "--no-gpu", "--no-progress"]


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]


def files_under(folder: Path) -> set[Path]:
    return {p.resolve() for p in folder.rglob("*") if p.is_file()}


def one_line_error(err: str, code: int, *words: str) -> None:
    """Exit 2 and one error line, the last thing said (the cost announcement may come before it)."""
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and "warning:" not in line]
    errors = [i for i, line in enumerate(lines) if "error:" in line]
    assert len(errors) == 1 and errors[0] == len(lines) - 1, err
    for word in words:
        assert word in lines[-1], lines[-1]


# -- output paths ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..-up.mp4", "..-frames", ".-x.gif"])
def test_names_from_files_never_leave_the_output_folder(
    name: str, frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "deep" / "videos"
    videos.mkdir(parents=True)
    path = videos / name
    if not name.endswith("frames"):
        io.write_video(path, frames, fps=8)
    else:
        io.write_frames(path, frames)
    out = tmp_path / "deep" / "out"
    before = files_under(tmp_path)
    code = main(["explain", "--video", str(path), *FAST, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    written = {p for p in files_under(tmp_path) - before if p.name != LEDGER}
    assert len(written) == 5  # gif, mp4, png, npz, json (and the ledger of own outputs)
    inside = (out / "saliency" / "demo").resolve()  # the canonical name of --method grad
    assert all(inside in p.parents for p in written), written
    assert all(not p.name.startswith(".") for p in written)


@pytest.mark.parametrize("label", ["../../../esc", "/abs/esc", "..", ".hidden", "a\\b"])
def test_a_save_label_that_is_not_a_plain_name_is_refused(
    label: str, frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    before = files_under(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "explain",
                "--video",
                str(video),
                *FAST,
                "--out",
                str(tmp_path / "o"),
                "--save-label",
                label,
            ]
        )
    assert exit_info.value.code == 2
    assert "--save-label" in capsys.readouterr().err
    assert files_under(tmp_path) == before


def test_run_does_not_refuse_a_dataset_for_odd_file_names(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    names = ["a\\b-x.mp4", "right-" + "x" * 230 + ".mp4", "left-ok.mp4", "_.-up.mp4"]
    for name in [*names, "..-up.mp4"]:  # the hidden one is not part of the dataset
        io.write_video(videos / name, frames, fps=8)
    out = tmp_path / "out"
    code = main(
        ["run", "--videos-dir", str(videos), "--out", str(out), *FAST, "--num-workers", "0"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 clips: 4 done, 0 skipped, 0 failed" in captured.out
    results = sorted(os.listdir(out / "results"))
    assert "_.-up.npz" in results
    assert len(results) == 4 and all(len(r) <= 204 and not r.startswith(".") for r in results)
    assert all("\\" not in r and "/" not in r for r in results)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(Path(c["source"]).name for c in manifest["clips"]) == sorted(names)


# -- errors that are one line, exit 2 ---------------------------------------------------------------
class Evil:
    """Unpickling it would create a file; it must never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["whole_model", "garbage", "zip_garbage", "malicious"])
def test_weights_that_are_not_a_state_dict(
    kind: str, frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "w.pth"
    marker = tmp_path / "pwned"
    if kind == "whole_model":
        torch.save(torch.nn.Conv3d(3, 4, 1), weights)
    elif kind == "garbage":
        weights.write_bytes(bytes(range(256)) * 3)
    elif kind == "zip_garbage":
        weights.write_bytes(b"PK\x03\x04" + bytes(range(100)))
    else:
        weights.write_bytes(pickle.dumps(Evil(marker)))
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    args = ["explain", "--video", str(video), "--model", "r3d_18", "--weights", str(weights)]
    code = main([*args, "--no-gpu", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    one_line_error(err, code, "--weights", "state_dict")
    assert "weights_only" not in err and not marker.exists()


def test_an_unreadable_videos_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "locked"
    videos.mkdir()
    real = Path.iterdir

    def iterdir(self: Path):  # type: ignore[no-untyped-def]
        if self == videos:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    for command in ("explain", "run"):
        code = main([command, "--videos-dir", str(videos), *FAST, "--out", str(tmp_path / "o")])
        one_line_error(capsys.readouterr().err, code, "--videos-dir", str(videos), "permission")


def test_out_pointing_at_a_file(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    existing = tmp_path / "file.txt"
    existing.write_text("mine")
    for command, source in (("explain", "--video"), ("run", "--videos-dir")):
        where = str(video) if command == "explain" else str(tmp_path)
        code = main([command, source, where, *FAST, "--out", str(existing)])
        one_line_error(capsys.readouterr().err, code, "--out", str(existing))
    assert existing.read_text() == "mine"


@pytest.mark.parametrize(
    "device",
    [
        "bogus",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU")
        ),
    ],
)
def test_a_device_this_machine_lacks(
    device: str, frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    args = ["--model", "demo", "--method", "grad", "--device", device]
    code = main(["explain", "--video", str(video), *args, "--out", str(tmp_path / "o")])
    one_line_error(capsys.readouterr().err, code, "--device", repr(device))
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "option",
    [
        ["--fps", "0"],
        ["--fps", "nan"],
        ["--area", "1.5"],
        ["--iterations", "0"],
        ["--max-batch-size", "0"],
    ],
)
def test_options_are_checked_before_any_video(
    option: list[str], frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--video", str(video), *FAST, "--out", str(tmp_path / "o"), *option])
    assert exit_info.value.code == 2 and option[0] in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_options_are_checked_before_any_video(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    io.write_video(tmp_path / "right-1.mp4", frames, fps=8)
    for option in (["--batch-size", "0"], ["--num-workers", "-1"], ["--log-every", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(
                ["run", "--videos-dir", str(tmp_path), "--out", str(tmp_path / "o"), *FAST, *option]
            )
        assert exit_info.value.code == 2 and option[0] in capsys.readouterr().err
    code = main(
        [
            "run",
            "--videos-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            *FAST,
            "--target",
            "sideways",
        ]
    )
    one_line_error(capsys.readouterr().err, code, "--target", "sideways")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[]", "JSON object"),
        ('{"config": "x"}', "'config' must be a JSON object"),
        ('{"config": {"met', "not valid JSON"),
    ],
)
def test_a_malformed_run_json_is_named(
    content: str,
    words: str,
    frames: torch.Tensor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    io.write_video(videos / "right-1.mp4", frames, fps=8)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(content)
    code = main(
        ["run", "--videos-dir", str(videos), "--out", str(out), *FAST, "--num-workers", "0"]
    )
    one_line_error(capsys.readouterr().err, code, str(out / "run.json"), words)


def test_a_full_disk_keeps_what_is_done_and_says_how_to_resume(
    frames: torch.Tensor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from videoattr.runner import ResultStore
    from videoattr.runner import store as store_module

    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(4):
        io.write_video(videos / f"right-{i}.mp4", frames, fps=8)
    out = tmp_path / "out"
    real_fsync = os.fsync
    calls = {"results": 0}

    def fsync(fd: int) -> None:
        if "results" in os.readlink(f"/proc/self/fd/{fd}"):
            calls["results"] += 1
            if calls["results"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(store_module.os, "fsync", fsync)
    args = [
        "run",
        "--videos-dir",
        str(videos),
        "--out",
        str(out),
        *FAST,
        "--num-workers",
        "0",
        "--batch-size",
        "1",
    ]
    code = main(args)
    one_line_error(capsys.readouterr().err, code, "no space left", "run the same command again")
    store = ResultStore(out)
    assert len(store.complete_ids()) == 2
    assert not [n for n in os.listdir(out / "results") if n.startswith(".")]
    monkeypatch.setattr(store_module.os, "fsync", real_fsync)
    assert main(args) == 0
    assert "4 clips: 2 done, 2 skipped, 0 failed" in capsys.readouterr().out


# -- issue 21: smaller holes ---------------------------------------------------------------------
def test_a_window_stride_longer_than_a_window_is_refused_before_any_video(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    io.write_video(tmp_path / "right-1.mp4", frames, fps=8)
    out = tmp_path / "o"
    for command, source in (("explain", "--video"), ("run", "--videos-dir")):
        where = str(tmp_path / "right-1.mp4") if command == "explain" else str(tmp_path)
        args = [command, source, where, *FAST, "--out", str(out), "--whole-video"]
        code = main([*args, "--window-stride", "17"])
        one_line_error(capsys.readouterr().err, code, "--window-stride", "17")
        assert not out.exists()


def test_top_k_beyond_the_classes_is_refused_as_the_api_does(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    io.write_video(tmp_path / "right-1.mp4", frames, fps=8)
    out = tmp_path / "o"
    for command, source in (("explain", "--video"), ("run", "--videos-dir")):
        where = str(tmp_path / "right-1.mp4") if command == "explain" else str(tmp_path)
        code = main([command, source, where, *FAST, "--out", str(out), "--target", "top5"])
        one_line_error(capsys.readouterr().err, code, "--target", "5 classes", "has 4")
        assert not out.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    code = main(["explain", "--video", str(fifo), *FAST, "--out", str(tmp_path / "o")])
    one_line_error(capsys.readouterr().err, code, "--video", "fifo.mp4", "not a regular file")


def test_skipped_entries_of_a_videos_folder_are_named(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    io.write_video(videos / "right-1.mp4", frames, fps=8)
    io.write_video(videos / "..-up.mp4", frames, fps=8)
    code = main(["explain", "--videos-dir", str(videos), *FAST, "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 0 and "1 of 1 videos explained" in captured.out
    assert "skipped 1 entry" in captured.err and "..-up.mp4 (a hidden name" in captured.err


def test_scale_is_bounded_before_any_work(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    io.write_video(videos / "right-1.mp4", frames, fps=8)
    out = tmp_path / "o"
    code = main(["explain", "--video", str(videos / "right-1.mp4"), *FAST, "--out", str(out),
                 "--scale", "100"])  # fmt: skip
    one_line_error(capsys.readouterr().err, code, "--scale 100", "at most 73")
    assert not out.exists()
    run = tmp_path / "run"
    assert main(["run", "--videos-dir", str(videos), "--out", str(run), *FAST,
                 "--num-workers", "0"]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["render", str(run), "--scale", "100"])
    one_line_error(capsys.readouterr().err, code, "--scale 100")
    assert not (run / "pictures").exists()


def test_class_names_in_file_names_have_no_spaces(
    frames: torch.Tensor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from videoattr.cli import explain as explain_cli
    from videoattr.cli import loading

    def spaced(args: object, device: torch.device) -> object:
        adapter = loading.load_model(args, device)  # type: ignore[arg-type]
        adapter.class_names = ["catching or throwing baseball", "b  c", "left", "up"]
        return adapter

    monkeypatch.setattr(explain_cli, "load_model", spaced)
    video = tmp_path / "ironing-1.mp4"
    io.write_video(video, frames, fps=8)
    out = tmp_path / "o"
    code = main(["explain", "--video", str(video), *FAST, "--out", str(out), "--target", "top2"])
    assert code == 0, capsys.readouterr().err
    written = [p.name for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert written and not [n for n in written if " " in n], written
    records = [json.loads(p.read_text()) for p in out.rglob("*.json")]
    assert "catching or throwing baseball" in {r["target"]["name"] for r in records}


def test_render_refuses_swapped_results_and_changed_sources(
    frames: torch.Tensor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    io.write_video(videos / "right-1.mp4", frames, fps=8)
    io.write_video(videos / "left-2.mp4", frames.flip(2), fps=8)
    run = tmp_path / "run"
    assert main(["run", "--videos-dir", str(videos), "--out", str(run), *FAST,
                 "--num-workers", "0"]) == 0  # fmt: skip
    results = run / "results"
    os.replace(results / "right-1.npz", results / "x.npz")
    os.replace(results / "left-2.npz", results / "right-1.npz")
    os.replace(results / "x.npz", results / "left-2.npz")
    capsys.readouterr()
    assert main(["render", str(run), "--format", "png"]) == 1
    err = capsys.readouterr().err
    assert "the result file of 'right-1' holds the result of 'left-2'" in err
    assert not list((run / "pictures").glob("*.png"))
    # the same number of frames, other content: the result no longer matches its source
    os.replace(results / "right-1.npz", results / "x.npz")
    os.replace(results / "left-2.npz", results / "right-1.npz")
    os.replace(results / "x.npz", results / "left-2.npz")
    io.write_video(videos / "right-1.mp4", frames.flip(1), fps=8)
    assert main(["render", str(run), "--format", "png"]) == 1
    assert "right-1.mp4 changed since the result was made" in capsys.readouterr().err
    assert [p.name for p in (run / "pictures").glob("*.png")] == ["left-2.png"]
