"""`read_frames` decodes a video file once: the sampled frames, every frame's time, the count and
the rate come from one decoding pass, equal to what the separate passes give."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.io.clips import smooth_clip
from tests.io.test_decoding import encode, moving_clip
from videoattr import io
from videoattr.io import VideoReadError, decoding
from videoattr.io.frames import center_crop, resize_frames
from videoattr.io.streaming import frame_rate, video_timestamps
from videoattr.pipeline import VideoFrames, read_frames
from videoattr.zoo import Preprocessing

PREP = Preprocessing(resize=(12,), crop=(10, 10), mean=(0.5,) * 3, std=(0.25,) * 3)
VFR_TIMES = [0.0, 0.04, 0.08, 1.5, 1.54, 4.0, 4.02, 9.0, 9.5]


@contextmanager
def counting_opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every `open_video` call (the one way into a video file) is recorded."""
    opened: list[Path] = []
    original = decoding.open_video

    @contextmanager
    def open_video(p: Path) -> Iterator[Any]:
        opened.append(p)
        with original(p) as pair:
            yield pair

    with monkeypatch.context() as m:
        m.setattr(decoding, "open_video", open_video)
        yield opened


def two_pass(path: Path, step: int) -> VideoFrames:
    """What `read_frames` computed before: a timestamps pass, the rate, then a pixel pass."""
    times = video_timestamps(path)
    assert times is not None
    chunks = io.iter_frames(path, step=step, chunk_size=4, strict=False)
    frames = torch.cat(
        [center_crop(resize_frames(c, 12, antialias=PREP.antialias), (10, 10)) for c in chunks]
    )
    return VideoFrames(
        frames=frames,
        frame_indices=torch.arange(len(frames)) * step,
        num_frames=len(times),
        fps=frame_rate(times, io.video_fps(path)),
        mean=PREP.mean,
        std=PREP.std,
        source=str(path),
        timestamps=tuple(times),
    )


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("one_pass")
    return [
        io.write_video(folder / "cfr.mp4", smooth_clip(11, 24, 32), fps=25),  # states its count
        encode(folder / "vfr.mkv", moving_clip(len(VFR_TIMES), 24, 32), VFR_TIMES),  # does not
    ]


@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize("which", [0, 1])
def test_a_video_file_is_decoded_once_and_reads_as_with_two_passes(
    videos: list[Path], which: int, step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = videos[which]
    expected = two_pass(path, step)
    with counting_opens(monkeypatch) as opened:
        got = read_frames(path, preprocessing=PREP, frame_step=step, chunk_size=4)
    assert opened == [path]
    assert torch.equal(got.frames, expected.frames)
    assert torch.equal(got.frame_indices, expected.frame_indices)
    assert (got.num_frames, got.fps, got.source) == (
        expected.num_frames,
        expected.fps,
        expected.source,
    )
    assert got.timestamps == expected.timestamps
    assert got.frames.is_contiguous() and len(got) == -(-got.num_frames // step)


def test_the_vfr_times_are_the_file_s_own(videos: list[Path]) -> None:
    got = read_frames(videos[1], preprocessing=PREP, frame_step=2)
    assert got.timestamps == pytest.approx(VFR_TIMES, abs=1e-3)
    assert got.fps == pytest.approx((len(VFR_TIMES) - 1) / VFR_TIMES[-1])


def test_an_undecodable_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoReadError, match=r"empty\.mp4"):
        read_frames(path, preprocessing=PREP)
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        read_frames(tmp_path / "missing.mp4", preprocessing=PREP)


def test_the_pass_records_the_timeline_a_pass_without_pixels_gives(videos: list[Path]) -> None:
    for path in videos:
        one = decoding.DecodingPass(path, 3, 2, True)
        with pytest.raises(RuntimeError, match="has not finished"):
            _ = one.timeline
        chunks = [c for c, _ in one]
        assert sum(len(c) for c in chunks) == -(-len(one.timeline) // 3)
        assert one.timeline == decoding.decode_timeline(path)
        assert one.rate == decoding.nominal_rate(path)
