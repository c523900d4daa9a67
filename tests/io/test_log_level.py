"""Reading a video leaves PyAV's log level as the user set it (FFmpeg's errors are still counted
for strict reading while a video is open)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.io.clips import smooth_clip
from tests.io.test_decoding import moving_clip
from videoattr import io
from videoattr.io import VideoReadError
from videoattr.pipeline import read_frames
from videoattr.zoo import Preprocessing

av_logging = pytest.importorskip("av.logging")


@pytest.fixture
def level() -> Iterator[None]:
    """The process's PyAV level is put back after the test, whatever it sets."""
    before = av_logging.get_level()
    yield
    av_logging.set_level(before)


def read_every_way(path: Path) -> None:
    io.read_video(path)
    io.read_video(path, 3)
    io.count_frames(path)
    io.video_fps(path)
    list(io.iter_frames(path, chunk_size=2))
    prep = Preprocessing(resize=(8,), crop=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3)
    read_frames(path, preprocessing=prep, frame_step=2)


@pytest.mark.parametrize("user_level", [None, "WARNING", "ERROR", "PANIC"])
def test_the_level_set_before_reading_is_the_level_after(
    tmp_path: Path, level: None, user_level: str | None
) -> None:
    path = io.write_video(tmp_path / "clip.mp4", smooth_clip(6), fps=25)
    wanted = None if user_level is None else getattr(av_logging, user_level)
    av_logging.set_level(wanted)
    read_every_way(path)
    assert av_logging.get_level() == wanted


def test_damage_is_still_found_with_no_level_set(tmp_path: Path, level: None) -> None:
    source = io.write_video(tmp_path / "clip.avi", moving_clip(12, 32, 32))
    data = bytearray(source.read_bytes())
    for i in range(len(data) // 3, len(data), max(1, len(data) // 40)):
        data[i] ^= 0xFF  # FFV1 slices carry checksums: FFmpeg logs each flip as an error
    damaged = tmp_path / "flipped.avi"
    damaged.write_bytes(bytes(data))
    av_logging.set_level(None)
    with pytest.raises(VideoReadError, match=r"flipped\.avi is damaged"):
        io.count_frames(damaged)
    assert av_logging.get_level() is None
    io.count_frames(damaged, strict=False)
    assert av_logging.get_level() is None


def test_a_level_set_while_a_video_is_open_is_kept(tmp_path: Path, level: None) -> None:
    path = io.write_video(tmp_path / "clip.mp4", smooth_clip(6), fps=25)
    av_logging.set_level(None)
    chunks = io.iter_frames(path, chunk_size=2)
    next(chunks)  # the file is open
    av_logging.set_level(av_logging.INFO)
    list(chunks)
    assert av_logging.get_level() == av_logging.INFO
