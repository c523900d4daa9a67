"""The folder dataset's names and labels, and the one device resolver the runner and the CLI use."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videoattr.core.devices import resolve_device
from videoattr.datasets.folders import (
    MAX_NAME_LENGTH,
    class_from_label,
    find_videos,
    label_of,
    safe_name,
    unique_ids,
)
from videoattr.runner import check_id

NAMES = ["abseiling", "playing guitar", "Juggling_balls"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abseiling", 0),
        ("Playing_Guitar", 1),
        ("  playing   guitar ", 1),
        ("juggling balls", 2),
        ("2", 2),
        (1, 1),
    ],
)
def test_class_from_label(value: int | str, expected: int) -> None:
    assert class_from_label(value, NAMES) == expected


def test_class_from_label_errors_and_lenient_labels() -> None:
    with pytest.raises(ValueError, match="close matches: abseiling"):
        class_from_label("abseil", NAMES)
    with pytest.raises(ValueError, match="not a class index of 3"):
        class_from_label("7", NAMES)
    with pytest.raises(ValueError, match="not a class index"):
        class_from_label(-1, NAMES)
    with pytest.raises(TypeError, match="target"):
        class_from_label(True, NAMES)
    assert class_from_label("abseil", NAMES, strict=False) is None  # a label that is no class
    assert class_from_label("7", NAMES, strict=False) is None
    assert class_from_label("3", None, strict=False) is None  # no class names: the top class
    assert class_from_label("3", None) == 3


@pytest.mark.parametrize(
    "name", ["..", ".", "..-up", "a/b", "a\\b-x", "x\x00y", "\x1b[31m", "", "é" * 150, "y" * 300]
)
def test_safe_names_are_plain_file_names(name: str) -> None:
    safe = safe_name(name)
    assert check_id(safe) == safe
    assert len(safe.encode()) <= MAX_NAME_LENGTH
    assert Path(safe).name == safe and safe not in (".", "..")
    assert safe_name(safe) == safe  # idempotent


def test_safe_name_keeps_plain_names_and_separates_long_ones() -> None:
    assert safe_name("abseiling-0001") == "abseiling-0001"
    a, b = safe_name("x" * 250 + "a"), safe_name("x" * 250 + "b")
    assert a != b and a.startswith("x" * 100)


def test_folder_ids_are_unique_and_safe(tmp_path: Path) -> None:
    names = ["a\\b-1.mp4", "a_b-1.mp4", "walk-1.mp4", "walk-1.gif", "right-frames"]
    for n in names:
        (tmp_path / n).mkdir() if n.endswith("frames") else (tmp_path / n).write_bytes(b"")
    (tmp_path / ".hidden-1.mp4").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video")
    paths = find_videos(tmp_path)
    assert sorted(p.name for p in paths) == sorted(names)
    ids = unique_ids(paths)
    assert len(set(ids)) == len(ids) and all(check_id(i) == i for i in ids)
    assert "walk-1.mp4" in ids and "walk-1.gif" in ids  # a shared stem keeps the ending
    assert label_of(tmp_path / "right-frames") == "right"


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="'bogus' is not a device name"):
        resolve_device("bogus")
    with pytest.raises(TypeError, match="device must be"):
        resolve_device(3)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        assert resolve_device(None) == torch.device("cpu")
        with pytest.raises(ValueError, match="needs a CUDA GPU"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="needs a CUDA GPU"):
            resolve_device("cuda:0", local_rank=1)
    else:
        count = torch.cuda.device_count()
        with pytest.raises(ValueError, match="does not exist"):
            resolve_device(f"cuda:{count}")
