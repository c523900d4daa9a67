"""Reading and writing videos, GIFs and frame folders: round trips and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.io.clips import H, T, W, frame_ids, numbered_clip, smooth_clip
from videoattr.io import (
    VideoReadError,
    VideoTooShortError,
    count_frames,
    list_frame_files,
    read_video,
    sample_indices,
    write_frames,
    write_video,
)

# Round trips
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "mean_tol", "max_tol"),
    [("avi", 0.0, 0), ("mp4", 4.0, 24), ("webm", 4.0, 24), ("gif", 4.0, 24)],
)
def test_video_round_trip(tmp_path: Path, ext: str, mean_tol: float, max_tol: int) -> None:
    clip = smooth_clip()
    path = write_video(tmp_path / f"clip.{ext}", clip, fps=8)
    back = read_video(path)
    assert back.dtype == torch.uint8 and back.shape == (T, H, W, 3)
    err = (back.int() - torch.from_numpy(clip).int()).abs()
    assert err.float().mean() <= mean_tol
    assert err.max() <= max_tol
    assert count_frames(path) == T


def test_gif_keeps_repeated_frames(tmp_path: Path) -> None:
    # Pillow merges identical consecutive frames into one longer frame; reading expands it again.
    clip = numbered_clip(5)[[0, 1, 1, 1, 2, 3, 3]]
    path = write_video(tmp_path / "rep.gif", clip, fps=30)
    back = read_video(path)
    assert frame_ids(back) == [0, 1, 1, 1, 2, 3, 3]
    assert count_frames(path) == 7


def test_frame_folder_round_trip(tmp_path: Path) -> None:
    clip = smooth_clip()
    paths = write_frames(tmp_path / "png", clip)
    assert [p.name for p in paths][:2] == ["frame_00000.png", "frame_00001.png"]
    assert torch.equal(read_video(tmp_path / "png"), torch.from_numpy(clip))
    write_frames(tmp_path / "jpg", clip, ext="jpg")
    err = (read_video(tmp_path / "jpg").int() - torch.from_numpy(clip).int()).abs()
    assert err.float().mean() < 2.0


def test_write_frames_refuses_to_mix_clips(tmp_path: Path) -> None:
    write_frames(tmp_path, numbered_clip(4))
    with pytest.raises(FileExistsError, match="already holds 4 frame images"):
        write_frames(tmp_path, numbered_clip(2))
    write_frames(tmp_path, numbered_clip(2), overwrite=True)
    assert frame_ids(read_video(tmp_path)) == [0, 1]


def test_frame_folder_natural_order(tmp_path: Path) -> None:
    clip = numbered_clip(11)
    for i in range(11):
        Image.fromarray(clip[i]).save(tmp_path / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_frame_files(tmp_path)][:3] == ["img0.png", "img1.png", "img2.png"]
    assert frame_ids(read_video(tmp_path)) == list(range(11))


def test_mp4_odd_size_is_padded(tmp_path: Path) -> None:
    clip = smooth_clip(4, 15, 19)
    back = read_video(write_video(tmp_path / "odd.mp4", clip))
    assert back.shape == (4, 16, 20, 3)
    err = (back[:, :15, :19].int() - torch.from_numpy(clip).int()).abs().float().mean()
    assert err < 3.0


@pytest.mark.parametrize("ext", ["avi", "gif", "folder", "mp4"])
def test_sampling_picks_the_right_frames(tmp_path: Path, ext: str) -> None:
    clip = numbered_clip(11)
    if ext == "folder":
        source = tmp_path / "frames"
        write_frames(source, clip)
    else:
        source = write_video(tmp_path / f"n.{ext}", clip, fps=10)
    assert frame_ids(read_video(source, 4, "strided")) == sample_indices(11, 4, "strided")
    assert frame_ids(read_video(source, 4, "uniform")) == [0, 3, 7, 10]
    assert frame_ids(read_video(source, sampling=[10, 2, 2])) == [10, 2, 2]


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4"):
        read_video(missing, 4)


@pytest.mark.parametrize("name", ["broken.mp4", "broken.gif", "broken.webm"])
def test_unreadable_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"this is not a video" * 10)
    with pytest.raises(VideoReadError, match=f"could not decode .*{name}"):
        read_video(path, 2)
    with pytest.raises(VideoReadError, match=name):
        read_video(path)


@pytest.mark.parametrize("ext", ["mp4", "gif", "folder"])
def test_too_short_video_names_file_and_count(tmp_path: Path, ext: str) -> None:
    if ext == "folder":
        source = tmp_path / "short"
        write_frames(source, smooth_clip(3))
    else:
        source = write_video(tmp_path / f"short.{ext}", smooth_clip(3))
    with pytest.raises(VideoTooShortError, match=r"short.* has 3 frames, too few .*num_frames=8"):
        read_video(source, 8, "strided")


def test_empty_or_inconsistent_folder(tmp_path: Path) -> None:
    with pytest.raises(VideoTooShortError, match="has 0 frames"):
        read_video(tmp_path, 2)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a1.png")
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "a2.png")
    with pytest.raises(VideoReadError, match=r"differ in size: a1\.png is 8x8 .* a2\.png is 8x9"):
        read_video(tmp_path)
    (tmp_path / "a3.png").write_bytes(b"garbage")
    with pytest.raises(VideoReadError, match=r"a3\.png"):
        read_video(tmp_path, sampling=[2])


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must end with one of"):
        write_video(tmp_path / "clip.xyz", smooth_clip())
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_video(tmp_path / "clip.mp4", smooth_clip(), fps=0)
    with pytest.raises(TypeError, match=r"uint8.*denormalize"):
        write_video(tmp_path / "clip.mp4", smooth_clip().astype(np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        write_video(tmp_path / "clip.mp4", np.zeros((2, 4, 4, 5), np.uint8))
