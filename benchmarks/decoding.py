"""Decoding video files: the FFmpeg command through pipes (as videoattr read videos before) against
PyAV in process (as it reads them now).

The FFmpeg-pipe reader is reproduced here as videoattr used it: a first ``ffmpeg`` pass writing
one ``framecrc`` line per frame (the count, the timestamps and, strict, any damage), then
``imageio_ffmpeg.read_frames`` sending RGB frames through a pipe, counted from the start up to
the last wanted frame; the frame rate from a third process. The PyAV reader is
`videoattr.io` itself: one pass without pixel conversion for the count and the timestamps, a seek
to the key frame before a clip, one pass for a whole video that reports damage as it goes (for
``read_frames``, the same pass also records the timestamps, the count and the rate).

Two sources, generated once into ``--folder`` (never shipped): a long H.264 video
(``--minutes``, 320 x 240, 25 frames per second, the encoder settings of
[`write_video`][videoattr.io.write_video]: CRF 18, x264's key frame every 250 frames) and a
16-frame clip of the same kind. Each case is timed for both readers in interleaved rounds (so
that machine load hits both alike); the table gives the medians of the wall time and of the CPU
time (this process and its FFmpeg children, all threads) and their ratios PyAV / pipe (below 1:
PyAV is faster or cheaper). On a loaded machine the wall time favours the reader with more busy
threads (the ``ffmpeg`` command demuxes, decodes and converts in threads of its own); the CPU time
is the work done. The frames both readers return are compared.

Usage::

    python benchmarks/decoding.py                       # a 2-minute video, 3 rounds
    python benchmarks/decoding.py --minutes 0.5 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from videoattr import io
from videoattr.io.decoding import VIDEO_DEMUXERS, DecodingPass
from videoattr.io.ffmpeg import ffmpeg_url

WIDTH, HEIGHT, FPS = 320, 240, 25
PIPE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(VIDEO_DEMUXERS)]
PIPE_OUTPUT = ["-fps_mode", "passthrough"]


# --------------------------------------------------------------------------------------------------
# The FFmpeg-pipe reader, as videoattr used it
# --------------------------------------------------------------------------------------------------


def pipe_timestamps(p: Path) -> list[float]:
    """One ``ffmpeg`` pass: each frame's time (``framecrc``), damage refused (strict)."""
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "error",
        *PIPE_INPUT, "-i", ffmpeg_url(p), "-map", "0:v:0", *PIPE_OUTPUT,
        "-enc_time_base", "demux", "-f", "framecrc", "-",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, check=True, stdin=subprocess.DEVNULL)
    if done.stderr.strip():
        raise RuntimeError(f"{p} is damaged: {done.stderr[:200]!r}")
    base, pts = Fraction(1), []
    for line in done.stdout.decode().splitlines():
        if line.startswith("#tb 0:"):
            num, _, den = line.split(":", 1)[1].strip().partition("/")
            base = Fraction(int(num), int(den or 1))
        elif line and not line.startswith("#") and line.split(",")[0].strip() == "0":
            pts.append(int(line.split(",")[2]))
    return [float((t - min(pts)) * base) for t in pts]


def _pipe_reader(p: Path) -> tuple[Iterator[bytes], int, int]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(
        ffmpeg_url(p), pix_fmt="rgb24", input_params=PIPE_INPUT, output_params=PIPE_OUTPUT
    )
    width, height = next(reader)["size"]
    return reader, width, height


def pipe_frames(p: Path, indices: Sequence[int] | None) -> np.ndarray:
    """The frames at ``indices`` (``None``: all), decoded from the start to the last one."""
    reader, width, height = _pipe_reader(p)
    wanted = None if indices is None else set(indices)
    last = -1 if indices is None else max(indices)
    kept: dict[int, np.ndarray] = {}
    try:
        for i, buffer in enumerate(reader):
            if wanted is None or i in wanted:
                kept[i] = np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
            if indices is not None and i >= last:
                break
    finally:
        reader.close()  # type: ignore[attr-defined]
    return np.stack([kept[i] for i in (sorted(kept) if indices is None else indices)])


def pipe_chunks(p: Path, chunk_size: int) -> Iterator[np.ndarray]:
    reader, width, height = _pipe_reader(p)
    chunk: list[np.ndarray] = []
    try:
        for buffer in reader:
            chunk.append(np.frombuffer(buffer, np.uint8).reshape(height, width, 3))
            if len(chunk) == chunk_size:
                yield np.stack(chunk)
                chunk = []
    finally:
        reader.close()  # type: ignore[attr-defined]
    if chunk:
        yield np.stack(chunk)


def pipe_fps(p: Path) -> float:
    reader, _, _ = _pipe_reader(p)
    reader.close()  # type: ignore[attr-defined]
    import imageio_ffmpeg

    meta = next(imageio_ffmpeg.read_frames(ffmpeg_url(p), pix_fmt="rgb24", input_params=PIPE_INPUT))
    return float(meta["fps"])


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


def make_video(path: Path, frames: int) -> Path:
    """A moving texture with a moving square, H.264 CRF 18 (as `write_video` encodes mp4)."""
    if path.exists():
        return path
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    texture = np.kron(base, np.ones((8, 8, 1), np.uint8))  # blocks: compressible, not flat
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(frames):
            image = np.roll(texture, (i % HEIGHT, (3 * i) % WIDTH), axis=(0, 1)).copy()
            y, x = 40 + (i * 2) % 150, (i * 5) % 280
            image[y : y + 40, x : x + 40] = (255, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------

Case = tuple[str, Callable[[], Any], Callable[[], Any]]


def cases(long: Path, short: Path, clip_start: int) -> list[Case]:
    clip = list(range(clip_start, clip_start + 16))

    def pipe_stream(strict: bool) -> int:
        if strict:
            pipe_timestamps(long)  # the damage check was a first pass
        return sum(len(c) for c in pipe_chunks(long, 16))

    def av_stream(strict: bool) -> int:
        return sum(len(c) for c in io.iter_frames(long, chunk_size=16, strict=strict))

    def pipe_whole_video() -> tuple[int, int]:  # what read_frames asks of io
        times = pipe_timestamps(long)
        pipe_fps(long)
        return len(times), sum(len(c) for c in pipe_chunks(long, 16))

    def av_whole_video() -> tuple[int, int]:  # one pass: frames, timestamps, count and rate
        decoding = DecodingPass(long, 1, 16, True)
        frames = sum(len(c) for c, _ in decoding)
        return len(decoding.timeline.times() or ()), frames

    return [
        ("count frames (timestamps pass)", lambda: len(pipe_timestamps(long)),
         lambda: io.count_frames(long)),
        ("stream all frames, strict=False", lambda: pipe_stream(False), lambda: av_stream(False)),
        ("stream all frames, strict", lambda: pipe_stream(True), lambda: av_stream(True)),
        ("whole video as read_frames reads", pipe_whole_video, av_whole_video),
        (f"16-frame clip at frame {clip_start}",
         lambda: (pipe_timestamps(long), pipe_frames(long, clip))[1],
         lambda: io.read_video(long, sampling=clip).numpy()),
        ("16 frames uniform over the video",
         lambda: pipe_frames(long, io.sample_indices(len(pipe_timestamps(long)), 16, "uniform")),
         lambda: io.read_video(long, 16, "uniform").numpy()),
        ("16-frame file, read whole",
         lambda: (pipe_timestamps(short), pipe_frames(short, None))[1],
         lambda: io.read_video(short).numpy()),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="long video (default: 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short-repeats", type=int, default=10, help="16-frame file reads/round")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/videoattr-bench"))
    args = parser.parse_args()
    frames = round(args.minutes * 60 * FPS)
    long = make_video(args.folder / f"long_{frames}.mp4", frames)
    short = make_video(args.folder / "short_16.mp4", 16)
    clip_start = min(frames // 2 + 100, frames - 16)  # 100 frames after a key frame (every 250)
    table = cases(long, short, clip_start)
    times: dict[str, list[list[tuple[float, float]]]] = {name: [[], []] for name, _, _ in table}
    results: dict[str, list[Any]] = {}
    for _ in range(args.rounds):
        for name, *readers in table:
            repeats = args.short_repeats if "file" in name else 1
            for k, read in enumerate(readers):
                start, cpu = time.perf_counter(), cpu_seconds()
                for _ in range(repeats):
                    value = read()
                wall, used = time.perf_counter() - start, cpu_seconds() - cpu
                times[name][k].append((wall / repeats, used / repeats))
                results.setdefault(name, [None, None])[k] = value
    print(f"{frames} frames of {WIDTH}x{HEIGHT} at {FPS} fps ({long.stat().st_size >> 10} KiB); "
          f"median of {args.rounds} rounds; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'':<36} {'wall time (s)':^22} {'CPU time (s)':^22}")
    head = f"{'pipe':>7} {'PyAV':>7} {'ratio':>6}"
    print(f"{'case':<36} {head} {head}  same result")
    for name, (pipe, pyav) in times.items():
        row = f"{name:<36}"
        for k in (0, 1):
            a, b = (statistics.median(t[k] for t in ts) for ts in (pipe, pyav))
            row += f" {a:7.3f} {b:7.3f} {b / a:6.2f}"
        print(f"{row}  {_same(*results[name])}")


def cpu_seconds() -> float:
    """User and system time of this process and of its waited-for children, all threads."""
    me, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _same(old: Any, new: Any) -> str:
    if isinstance(old, np.ndarray):
        if old.shape != new.shape:
            return f"no: shapes {old.shape} and {new.shape}"
        diff = int(np.abs(old.astype(np.int16) - new.astype(np.int16)).max())
        return "yes (identical frames)" if diff == 0 else f"max |difference| {diff}"
    return "yes" if old == new else f"no: {old} and {new}"


if __name__ == "__main__":
    main()
