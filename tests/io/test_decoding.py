"""Decoding video files in process with PyAV (issue 23, item 9): exact frames, timestamps, seeking,
and the safety of the FFmpeg-pipe reader it replaced (file objects, allowed containers)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.io.clips import smooth_clip
from videoattr import io
from videoattr.io import VideoReadError, VideoTooShortError, decoding
from videoattr.io.decoding import Timeline, decode_chunks, decode_frames, decode_timeline
from videoattr.io.streaming import video_timestamps

av = pytest.importorskip("av")


def encode(path: Path, frames: np.ndarray, times: list[float] | None = None, gop: int = 250,
           codec: str = "libx264") -> Path:  # fmt: skip
    """Encode RGB frames with PyAV (``times``: each frame's time in seconds; default 25 fps)."""
    times = times if times is not None else [i / 25 for i in range(len(frames))]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options={"g": str(gop), "crf": "18"})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for frame, t in zip(frames, times, strict=True):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), "rgb24")
            picture.pts, picture.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def moving_clip(t: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Random blocks rolled a little each frame: every frame differs, and H.264 predicts them."""
    blocks = np.random.default_rng(0).integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    texture = np.kron(blocks, np.ones((8, 8, 1), np.uint8))
    return np.stack([np.roll(texture, (i, 2 * i), axis=(0, 1)) for i in range(t)])


# --------------------------------------------------------------------------------------------------
# The frames written, at their times
# --------------------------------------------------------------------------------------------------


def test_a_lossless_file_reads_back_exactly(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (9, 24, 40, 3), dtype=np.uint8)
    path = io.write_video(tmp_path / "lossless.avi", frames)  # FFV1, RGB: no loss
    assert torch.equal(io.read_video(path), torch.from_numpy(frames))
    chunks = list(io.iter_frames(path, chunk_size=4))
    assert [len(c) for c in chunks] == [4, 4, 1]
    assert torch.equal(torch.cat(chunks), torch.from_numpy(frames))
    assert torch.equal(io.read_video(path, sampling=[7, 2, 7]), torch.from_numpy(frames[[7, 2, 7]]))


def test_h264_frames_match_the_ffmpeg_command(tmp_path: Path) -> None:
    """The peer: the ffmpeg binary of imageio-ffmpeg through a pipe. H.264 decoding is exact; the
    two FFmpeg builds' YUV-to-RGB conversions may round differently (SIMD paths), hence 3 levels."""
    import imageio_ffmpeg

    path = io.write_video(tmp_path / "clip.mp4", smooth_clip(10, 32, 48), fps=25)
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    width, height = next(reader)["size"]
    peer = np.stack([np.frombuffer(b, np.uint8).reshape(height, width, 3) for b in reader])
    ours = io.read_video(path).numpy()
    assert ours.shape == peer.shape == (10, 32, 48, 3)
    diff = np.abs(ours.astype(int) - peer.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.5


def test_a_variable_frame_rate_file_gives_distinct_frames_at_increasing_times(
    tmp_path: Path,
) -> None:
    times = [0.0, 0.04, 0.08, 1.5, 1.54, 4.0, 4.02, 9.0]
    frames = np.stack([np.full((16, 16, 3), 30 * i, np.uint8) for i in range(len(times))])
    path = encode(tmp_path / "vfr.mkv", frames, times)
    read = io.read_video(path)
    assert [round(float(f.float().mean()) / 30) for f in read] == list(range(len(times)))
    found = video_timestamps(path)
    assert found == pytest.approx(times, abs=1e-3)
    assert found is not None and all(a < b for a, b in itertools.pairwise(found))
    streamed = [t for _, ts in decode_chunks(path, 1, 3, True) for t in ts]
    assert streamed == pytest.approx(times, abs=1e-3)
    every_other = [t for _, ts in decode_chunks(path, 2, 3, True) for t in ts]
    assert every_other == pytest.approx(times[::2], abs=1e-3)


# --------------------------------------------------------------------------------------------------
# Seeking
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 frames, a key frame every 12 (H.264 with B-frames)."""
    return encode(tmp_path_factory.mktemp("seek") / "gop.mp4", moving_clip(60), gop=12)


@pytest.mark.parametrize(
    "sampling", [[30, 31, 32, 33], [59], [50, 3, 50, 27], [11, 12, 13, 47, 48], "uniform"]
)
def test_seeking_gives_the_frames_of_a_decoding_from_the_start(
    gop_video: Path, sampling: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = io.read_video(gop_video)
    timeline = decode_timeline(gop_video)
    assert len(timeline) == 60 and len(timeline.keyframes) >= 5 and timeline.seekable()

    def refuse(*_: object) -> None:
        raise AssertionError("decoded from the start: the seek was not used")

    monkeypatch.setattr(decoding, "_sequential_read", refuse)
    clip = io.read_video(gop_video, 4 if sampling == "uniform" else None, sampling)
    indices = io.sample_indices(60, 4, "uniform") if sampling == "uniform" else sampling
    assert torch.equal(clip, every[indices])


def test_a_seek_that_misses_falls_back_to_decoding_from_the_start(gop_video: Path) -> None:
    every = io.read_video(gop_video).numpy()
    true = decode_timeline(gop_video)
    shifted = Timeline(tuple((t or 0) + 1 for t in true.pts), true.keyframes, true.time_base)
    assert np.array_equal(decode_frames(gop_video, [40, 41], shifted), every[[40, 41]])
    unstamped = Timeline((None,) * 60, (), true.time_base)
    assert not unstamped.seekable() and unstamped.times() is None
    assert np.array_equal(decode_frames(gop_video, [5, 58], unstamped), every[[5, 58]])
    with pytest.raises(VideoTooShortError, match=r"gop\.mp4 ended before frames \[70\]"):
        decode_frames(gop_video, [70], Timeline(true.pts + (10**9,) * 11, (), true.time_base))


# --------------------------------------------------------------------------------------------------
# Safety: a local file as a file object, video containers only, named errors
# --------------------------------------------------------------------------------------------------


def test_the_name_never_reaches_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = io.write_video(tmp_path / "concat:a.avi|b.avi", smooth_clip(3))
    opened: list[Any] = []
    real_open = av.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append((file, kwargs))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    assert io.read_video(path).shape == (3, 16, 20, 3)
    file, kwargs = opened[0]
    assert not isinstance(file, (str, bytes, os.PathLike)) and hasattr(file, "read")
    options = kwargs["container_options"]
    assert options["protocol_whitelist"] == "none"
    assert set(options["format_whitelist"].split(",")) == set(decoding.VIDEO_DEMUXERS)


def test_a_url_like_name_is_a_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "http:").mkdir()
    io.write_video(tmp_path / "http:" / "x.avi", smooth_clip(4))
    assert io.read_video("http://x.avi").shape[0] == 4  # the folder "http:", the file "x.avi"
    for name in ("http://example.invalid/v.mp4", "concat:http:x.avi|x.avi"):
        with pytest.raises(FileNotFoundError, match="video not found"):
            io.read_video(name)


@pytest.mark.parametrize("kind", ["png", "wav"])
def test_a_container_not_on_the_list_is_refused(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "not-a-video.mp4"
    if kind == "png":
        from PIL import Image

        Image.fromarray(smooth_clip(1)[0]).save(bad, format="PNG")  # FFmpeg's png_pipe demuxer
    else:
        import wave

        with wave.open(str(bad), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
            w.writeframes(bytes(1600))
    for read in (io.read_video, io.count_frames, io.video_fps):
        with pytest.raises(VideoReadError, match=r"could not decode video .*not-a-video\.mp4.*"
                           r"not a video container format"):  # fmt: skip
            read(bad)


def test_a_file_without_a_video_stream_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sound.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), "s16", "mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(VideoReadError, match=r"sound\.mkv: the file has no video stream"):
        io.read_video(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_the_decoder_opens_a_named_pipe_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    code = (
        "import sys; from pathlib import Path\n"
        "from videoattr.io.decoding import decode_timeline\n"
        "try:\n    decode_timeline(Path(sys.argv[1]))\n"
        "except Exception as err:\n    print(type(err).__name__, err)\n"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=60
    )
    assert "VideoReadError" in done.stdout and "not a regular file" in done.stdout, done.stderr
    assert time.monotonic() - start < 60


def test_a_damaged_stream_is_refused_while_streaming_and_read_leniently(tmp_path: Path) -> None:
    source = io.write_video(tmp_path / "clip.avi", moving_clip(12, 32, 32))
    data = bytearray(source.read_bytes())
    for i in range(len(data) // 3, len(data), max(1, len(data) // 40)):
        data[i] ^= 0xFF  # FFV1 slices carry checksums: every flip is noticed
    bad = tmp_path / "flipped.avi"
    bad.write_bytes(bytes(data))
    with pytest.raises(VideoReadError, match=r"flipped\.avi is damaged"):
        list(io.iter_frames(bad))
    assert 0 < sum(len(c) for c in io.iter_frames(bad, strict=False)) <= 12


def test_stopping_early_or_refusing_damage_never_hangs(tmp_path: Path) -> None:
    """PyAV frees a decoder holding Python's lock; a decoder thread logging an error then waited
    for the lock forever. Damaged files decoded repeatedly, stopping early, in a subprocess."""
    code = (
        "import sys; from pathlib import Path; from videoattr import io\n"
        "for _ in range(8):\n"
        "    for p in sorted(Path(sys.argv[1]).glob('bad*')):\n"
        "        for strict in (True, False):\n"
        "            try:\n"
        "                io.read_video(p, strict=strict)\n"
        "                io.read_video(p, 4, 'strided', strict=strict)\n"
        "                next(iter(io.iter_frames(p, chunk_size=2, strict=strict)))\n"
        "            except io.VideoReadError:\n"
        "                pass\n"
        "print('done')\n"
    )
    noise = np.random.default_rng(0).integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    for ext in ("mp4", "mkv"):
        data = bytearray(io.write_video(tmp_path / f"clip.{ext}", noise).read_bytes())
        for i in range(len(data) // 3, len(data), max(1, len(data) // 40)):
            data[i] ^= 0xFF
        (tmp_path / f"bad.{ext}").write_bytes(bytes(data))
        (tmp_path / f"bad_cut.{ext}").write_bytes(bytes(data[: len(data) * 2 // 3]))
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "done", done.stderr[-2000:]
