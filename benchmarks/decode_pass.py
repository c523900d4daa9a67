"""The counting pass of a video file: FFmpeg to a null output against the timestamped pass.

``count_frames`` (and whole-video reading) decodes a file once without transferring its pixels. It
used to send the frames to FFmpeg's ``null`` output and read the count from ``-progress``; it now
keeps each frame's own timestamp (``-fps_mode passthrough``) and writes one ``framecrc`` line per
frame, which gives the count and the presentation timestamps (variable frame rates) in the same
pass. This script times both commands on a generated H.264 video (random frames, the hardest case
for the decoder), median of ``--rounds``, and prints the ratio.

Usage::

    python benchmarks/decode_pass.py                         # 300 frames of 320 x 240
    python benchmarks/decode_pass.py --frames 600 --size 640x480 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import imageio_ffmpeg

    from videoattr import io
    from videoattr.io.ffmpeg import FFMPEG_INPUT_OPTIONS, ffmpeg_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="320x240", help="WxH (default: 320x240)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.mp4"
        frames = np.random.default_rng(0).integers(0, 256, (args.frames, height, width, 3))
        io.write_video(video, frames.astype(np.uint8), fps=25)
        head = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-v", "error"]
        head += [*FFMPEG_INPUT_OPTIONS, "-i", ffmpeg_url(video), "-map", "0:v:0"]
        commands = {
            "null output, -progress (before)": [*head, "-progress", "pipe:1", "-f", "null", "-"],
            "passthrough framecrc (now)": [
                *head,
                *("-fps_mode", "passthrough", "-enc_time_base", "demux", "-f", "framecrc", "-"),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):  # interleaved, so that machine load hits both alike
            for name, cmd in commands.items():
                start = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True)
                times[name].append(time.perf_counter() - start)
        assert io.count_frames(video) == args.frames
    base = statistics.median(times["null output, -progress (before)"])
    print(f"{args.frames} frames of {width}x{height}, median of {args.rounds} rounds")
    print(f"{'pass':<34} {'seconds':>8} {'ratio':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<34} {median:8.3f} {median / base:6.2f}")


if __name__ == "__main__":
    main()
