"""Reading and writing under hostile conditions (issue 21, items 3, 5, 17, 18)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from videoattr import io
from videoattr.io import VideoReadError
from videoattr.io.frames import MAX_FRAME_PIXELS, resized_size


def test_16_bit_frames_are_scaled_not_clipped(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    levels = np.array([0, 257, 32896, 65535], dtype=np.uint16)  # 0, 1, 128, 255 in 8 bits
    for i, level in enumerate(levels):
        Image.fromarray(np.full((6, 8), level, dtype=np.uint16)).save(folder / f"f_{i}.png")
    with Image.open(folder / "f_0.png") as im:
        assert im.mode.startswith("I;16")
    frames = io.read_video(folder)
    assert frames.dtype == torch.uint8 and frames.shape == (4, 6, 8, 3)
    assert frames[:, 0, 0, 0].tolist() == [0, 1, 128, 255]


def test_32_bit_and_float_frames_are_refused_by_name() -> None:
    from videoattr.io.folders import to_rgb

    for image in (
        Image.fromarray(np.zeros((4, 4), dtype=np.int32), mode="I"),
        Image.fromarray(np.zeros((4, 4), dtype=np.float32), mode="F"),
    ):
        with pytest.raises(ValueError, match=f"mode '{image.mode}'"):
            to_rgb(image)


def test_a_size_derived_from_an_extreme_aspect_ratio_is_bounded() -> None:
    assert resized_size(240, 320, 128) == (128, 170)
    with pytest.raises(ValueError, match=r"16000x2 \(WxH\).*more than"):
        resized_size(2, 16000, 128)  # a 16000x2 video: 1024000x128 pixels per frame
    frames = torch.zeros(1, 2, 16000, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="more than"):
        io.resize_frames(frames, 128)
    assert MAX_FRAME_PIXELS == 4096 * 4096


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_and_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "right-1.mp4"
    os.mkfifo(fifo)
    code = (
        "import sys; from videoattr import io\n"
        "try:\n    io.count_frames(sys.argv[1])\n"
        "except io.VideoReadError as err:\n    print(err)\n"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=120
    )
    assert "not a regular file" in done.stdout, done.stderr
    assert time.monotonic() - start < 120
    for read in (io.read_video, io.video_fps, lambda p: list(io.iter_frames(p))):
        with pytest.raises(VideoReadError, match="not a regular file"):
            read(fifo)


def test_a_failing_encoder_is_reported_and_leaves_no_file(tmp_path: Path) -> None:
    full = tmp_path / "out.mp4"
    full.symlink_to("/dev/full")  # every write: ENOSPC
    with pytest.raises(OSError) as info:
        io.write_video(full, np.zeros((4, 16, 16, 3), np.uint8))
    assert info.value.errno == errno.ENOSPC
    assert "out.mp4" in str(info.value)
    assert not os.path.lexists(full)


def test_write_outputs_leaves_no_partial_file_when_the_encoder_fails(tmp_path: Path) -> None:
    from videoattr.pipeline import write_outputs
    from videoattr.pipeline.explain import ClipExplanation

    clip = torch.rand(1, 3, 4, 8, 8)
    result = ClipExplanation(
        maps=torch.rand(1, 1, 4, 8, 8),
        prediction=0,
        prediction_prob=0.5,
        target=0,
        target_prob=0.5,
    )
    (tmp_path / ".c.mp4.partial.mp4").symlink_to("/dev/full")  # the encoder's disk is full
    with pytest.raises(OSError):
        write_outputs(tmp_path, "c", clip, result, mean=(0, 0, 0), std=(1, 1, 1))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert "c.mp4" not in left and not [n for n in left if "partial" in n], left
