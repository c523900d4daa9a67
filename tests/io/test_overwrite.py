"""The output guard: inputs, files inside input folders and files of others are never written over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from videoattr.io.fingerprint import fingerprint
from videoattr.io.overwrite import LEDGER, OutputGuard, OverwriteError


def test_an_input_is_refused_however_it_is_spelt(tmp_path: Path) -> None:
    video = tmp_path / "v" / "right-1.mp4"
    video.parent.mkdir()
    video.write_bytes(b"video")
    guard = OutputGuard(tmp_path, [video])
    link = tmp_path / "out.mp4"
    link.symlink_to(video)
    for path in (video, tmp_path / "v" / ".." / "v" / "right-1.mp4", link):
        with pytest.raises(OverwriteError, match="input"):
            guard.claim(path, "x")
    assert video.read_bytes() == b"video"


def test_a_file_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    frames = tmp_path / "right-frames"
    frames.mkdir()
    guard = OutputGuard(tmp_path, [frames])
    with pytest.raises(OverwriteError, match="lies inside the input"):
        guard.check(frames / "new.png", "x")


def test_the_ledger_knows_own_files_and_forgets_replaced_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    target = out / "a" / "clip.png"
    guard = OutputGuard(out)
    guard.claim(target, "video-1")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"ours")
    guard.written(target)
    assert (out / LEDGER).is_file()
    again = OutputGuard(out)  # a later command
    again.check(target, "video-1")  # its own file: may be replaced
    with pytest.raises(OverwriteError, match="holds the output for video-1"):
        again.check(target, "video-2")
    target.write_bytes(b"a person's file now")  # replaced by someone else
    os.utime(target, ns=(1, 1))
    with pytest.raises(OverwriteError, match="did not write"):
        OutputGuard(out).check(target, "video-1")


def test_an_unknown_existing_file_is_refused_and_a_new_one_allowed(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_bytes(b"mine")
    guard = OutputGuard(tmp_path)
    with pytest.raises(OverwriteError, match=r"notes\.png.*did not write"):
        guard.check(tmp_path / "notes.png", "x")
    guard.check(tmp_path / "new.png", "x")
    with pytest.raises(OverwriteError):
        guard.check(tmp_path / LEDGER, "x")


def test_fingerprints_follow_content(tmp_path: Path) -> None:
    a = tmp_path / "a.mp4"
    a.write_bytes(b"x" * 1000)
    first = fingerprint(a)
    a.write_bytes(b"y" * 1000)  # same size, other content
    assert fingerprint(a) != first
    big = tmp_path / "big.mp4"
    big.write_bytes(bytes(3 << 20))
    before = fingerprint(big)
    with open(big, "r+b") as f:
        f.seek((3 << 20) - 10)
        f.write(b"changed!")
    assert fingerprint(big) != before
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "f_1.png").write_bytes(b"1")
    (folder / "f_2.png").write_bytes(b"2")
    before = fingerprint(folder)
    (folder / "f_2.png").write_bytes(b"3")
    assert fingerprint(folder) != before
