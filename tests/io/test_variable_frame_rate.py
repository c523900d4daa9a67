"""A variable-frame-rate video is read as the frames it holds, at their own times (issue 21, item 4)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from videoattr import io
from videoattr.io.streaming import frame_rate, video_timestamps

#: 40 frames over 36 s: 20 in the first second, 20 spread over the next 35 s.
TIMES = [i * 0.05 for i in range(20)] + [1.0 + i * 35 / 19 for i in range(20)]


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    av = pytest.importorskip("av")
    path = tmp_path_factory.mktemp("vfr") / "right-vfr.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264")
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(TIMES):  # frame i is flat grey 6 i: a read frame tells its index
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 6 * i, np.uint8), "rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def frame_numbers(frames: object) -> list[int]:
    return [round(float(f[..., 0].float().mean()) / 6) for f in frames]  # type: ignore[attr-defined]


def test_the_frames_the_file_holds_each_once(vfr_video: Path) -> None:
    assert io.count_frames(vfr_video) == 40
    every = io.read_video(vfr_video)
    assert every.shape[0] == 40
    assert frame_numbers(every) == list(range(40))
    chunks = list(io.iter_frames(vfr_video, chunk_size=16))
    assert sum(len(c) for c in chunks) == 40


def test_a_uniform_sample_covers_the_whole_file(vfr_video: Path) -> None:
    clip = io.read_video(vfr_video, 16, "uniform")
    assert frame_numbers(clip) == io.sample_indices(40, 16, "uniform")
    assert frame_numbers(clip)[-1] == 39


def test_times_come_from_the_timestamps(vfr_video: Path) -> None:
    times = video_timestamps(vfr_video)
    assert times is not None and len(times) == 40
    assert times == pytest.approx(TIMES, abs=1e-3)
    assert frame_rate(times, 25.0) == pytest.approx(39 / 36)
    assert frame_rate([0.0, 0.04, 0.08, 0.12], 25.0) == 25.0


def test_whole_video_windows_report_times_from_the_timestamps(vfr_video: Path) -> None:
    from videoattr import zoo
    from videoattr.pipeline import explain_video, read_frames
    from videoattr.runner.videos import video_explanation

    adapter = zoo.load("demo")
    video = read_frames(vfr_video, adapter)
    assert (len(video), video.num_frames) == (40, 40)
    assert video.timestamps == pytest.approx(TIMES, abs=1e-3)
    result = explain_video(adapter, "grad", video, stride=8)
    # window 1 holds frames 8..23: from 0.4 s to the start of frame 24 (8.37 s)
    assert result.window_span(1) == f"0.4-{TIMES[24]:.1f} s"
    rebuilt = video_explanation(result.maps.numpy(), {**result.summary(), "probabilities":
        result.probabilities.tolist(), "frame_indices": result.frame_indices.tolist(),
        "coverage": result.coverage.tolist()})[0]  # fmt: skip
    assert rebuilt.window_span(1) == result.window_span(1)
