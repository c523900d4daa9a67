"""Tests of videoattr.io: sampling, reading, writing, resizing and clip conversion."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from videoattr.io import (
    VideoReadError,
    VideoTooShortError,
    as_frames,
    center_crop,
    count_frames,
    denormalize,
    list_frame_files,
    read_video,
    resize_frames,
    sample_indices,
    to_clip,
    write_frames,
    write_video,
)

T, H, W = 6, 16, 20


def smooth_clip(t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """A smooth synthetic clip (gentle gradients, moving over time) that codecs compress well."""
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    r = 60 + 4 * xx + 6 * tt
    g = 60 + 5 * yy
    b = 200 - 3 * xx - 2 * yy + 3 * tt
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def numbered_clip(t: int, h: int = 8, w: int = 8) -> np.ndarray:
    """Frame ``i`` is a flat grey of level ``20 * i``, so a frame read back tells its index."""
    return np.stack([np.full((h, w, 3), 20 * i, dtype=np.uint8) for i in range(t)])


def frame_ids(frames: torch.Tensor) -> list[int]:
    return [round(float(f.float().mean()) / 20) for f in frames]


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


def test_strided_sampling_hand_computed() -> None:
    # n = 35, T = 16: stride 2, indices 0..34 step 2 (18 of them), the last 16 kept.
    assert sample_indices(35, 16, "strided") == list(range(4, 35, 2))
    # n = 17, T = 8: stride 2, indices 0..16 step 2 (9 of them), the last 8 kept.
    assert sample_indices(17, 8, "strided") == [2, 4, 6, 8, 10, 12, 14, 16]
    # n = T: every frame.
    assert sample_indices(16, 16, "strided") == list(range(16))
    # n = 50, T = 16: stride 3, indices 0..48 step 3 (17 of them), the last 16 kept.
    assert sample_indices(50, 16, "strided") == list(range(3, 49, 3))


def test_uniform_sampling_hand_computed() -> None:
    assert sample_indices(10, 4, "uniform") == [0, 3, 6, 9]
    assert sample_indices(10, 3, "uniform") == [0, 5, 9]  # 4.5 rounds half up
    assert sample_indices(7, 1, "uniform") == [0]
    assert sample_indices(5, 5, "uniform") == [0, 1, 2, 3, 4]
    assert sample_indices(5, None) == [0, 1, 2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, 40), extra=st.integers(0, 200))
def test_sampling_properties(t: int, extra: int) -> None:
    n = t + extra
    strided = sample_indices(n, t, "strided")
    stride = n // t
    assert len(strided) == t
    assert all(b - a == stride for a, b in itertools.pairwise(strided))
    assert strided[-1] == (n - 1) // stride * stride  # the last strided index below n
    uniform = sample_indices(n, t, "uniform")
    assert len(uniform) == t and uniform[0] == 0
    assert uniform[-1] == (n - 1 if t > 1 else 0)
    assert all(b > a for a, b in itertools.pairwise(uniform))
    reference = [
        math.floor(Fraction(i * (n - 1), max(t - 1, 1)) + Fraction(1, 2)) for i in range(t)
    ]
    assert uniform == reference


def test_explicit_indices_validated() -> None:
    assert sample_indices(10, None, [9, 0, 0, 4]) == [9, 0, 0, 4]
    assert sample_indices(10, 2, np.array([1, 2])) == [1, 2]
    with pytest.raises(
        ValueError, match=r"\[10\] are out of range for clip.mp4, which has 10 frames"
    ):
        sample_indices(10, None, [0, 10], source="clip.mp4")
    with pytest.raises(ValueError, match="-1"):
        sample_indices(10, None, [-1])
    with pytest.raises(ValueError, match="num_frames=3 disagrees with the 2 explicit"):
        sample_indices(10, 3, [0, 1])
    with pytest.raises(TypeError, match="ints"):
        sample_indices(10, None, [0.5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="sampling must be one of"):
        sample_indices(10, 2, "random")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["uniform", "strided"])
def test_too_short_for_sampling(mode: str) -> None:
    with pytest.raises(VideoTooShortError, match=r"v.mp4 has 5 frames, too few .* num_frames=8"):
        sample_indices(5, 8, mode, source="v.mp4")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Frames, resize, crop, clips
# --------------------------------------------------------------------------------------------------


def test_as_frames_accepts_grey_and_numpy() -> None:
    grey = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    frames = as_frames(grey)
    assert frames.shape == (2, 3, 4, 3)
    assert torch.equal(frames[..., 2], torch.from_numpy(grey))
    assert as_frames(torch.zeros(5, 2, 3, 4, 3, dtype=torch.uint8), batched=True).shape[0] == 5
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        as_frames(torch.zeros(5, 2, 3, 4, 3, dtype=torch.uint8))


def test_resize_and_crop_match_torchvision() -> None:
    frames = torch.from_numpy(smooth_clip(2, 24, 31))
    chw = frames.permute(0, 3, 1, 2)
    # short side 12: torchvision keeps the aspect ratio the same way.
    ours = resize_frames(frames, 12)
    ref = TF.resize(chw.float(), [12], antialias=True).round().clamp(0, 255).to(torch.uint8)
    assert ours.shape == (2, 12, 15, 3)
    assert (ours.permute(0, 3, 1, 2).int() - ref.int()).abs().max() <= 1
    for crop in [(10, 13), 7, (24, 31)]:
        expected = TF.center_crop(chw, list(crop) if isinstance(crop, tuple) else [crop])
        assert torch.equal(center_crop(frames, crop).permute(0, 3, 1, 2), expected)
    with pytest.raises(ValueError, match="larger than the frames"):
        center_crop(frames, 25)


def test_to_clip_normalises_and_matches_reference_preprocessing() -> None:
    mean, std = (0.43216, 0.39467, 0.37645), (0.22803, 0.22145, 0.21699)
    frames = torch.full((3, 40, 60, 3), 100, dtype=torch.uint8)
    clip = to_clip(frames, mean, std, size=(128, 171), crop=112)
    assert clip.shape == (1, 3, 3, 112, 112) and clip.dtype == torch.float32
    expected = (100 / 255 - torch.tensor(mean)) / torch.tensor(std)
    assert torch.allclose(clip[0, :, 1, 50, 50], expected, atol=1e-5)
    # Batched frames, integer short-side resize: 40x60 -> 20x30, centre crop 16. The reference is
    # torchvision's resize of the uint8 frames (rounded to integers), then crop, scale, normalise.
    varied = torch.from_numpy(smooth_clip(2, 40, 60)).expand(2, -1, -1, -1, -1)
    for antialias in (True, False):
        out = to_clip(varied, mean, std, size=20, crop=16, antialias=antialias)
        assert out.shape == (2, 3, 2, 16, 16)
        resized = TF.resize(varied[0].permute(0, 3, 1, 2), [20], antialias=antialias)
        ref = TF.normalize(TF.center_crop(resized, [16]).float() / 255, mean, std)
        torch.testing.assert_close(out[0].permute(1, 0, 2, 3), ref, rtol=0, atol=1e-6)
        torch.testing.assert_close(out[1], out[0])
    # The resize changes these frames, and antialiasing changes the result.
    plain = to_clip(varied, size=20, crop=16, antialias=False)
    smooth = to_clip(varied, size=20, crop=16, antialias=True)
    assert not torch.equal(plain, smooth)
    with pytest.raises(ValueError, match="std must be positive"):
        to_clip(frames, mean, (0.2, 0.0, 0.2))


def test_to_clip_float_frames_and_denormalize_round_trip() -> None:
    frames = torch.from_numpy(smooth_clip(2, 12, 14))
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    clip = to_clip(frames, mean, std)
    assert torch.equal(denormalize(clip, mean, std), frames.unsqueeze(0))
    assert torch.equal(denormalize(clip[0], mean, std), frames)
    floats = to_clip(frames.float() / 255, mean, std)  # float frames are taken to be in [0, 1]
    torch.testing.assert_close(floats, clip)
    with pytest.raises(TypeError, match="float tensor"):
        denormalize(frames)


def test_read_video_resize_and_crop(tmp_path: Path) -> None:
    source = write_video(tmp_path / "c.avi", smooth_clip(4, 16, 20))
    frames = read_video(source, 2, "uniform", size=8, crop=(6, 8))
    assert frames.shape == (2, 6, 8, 3)
    full = read_video(source)
    assert torch.equal(frames, center_crop(resize_frames(full[[0, 3]], (8, 10)), (6, 8)))
