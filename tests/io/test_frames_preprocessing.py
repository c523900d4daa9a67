"""Frames, resize, crop, the one preprocessing (:func:`videoattr.io.to_clip`) and its inverse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from tests.io.clips import smooth_clip
from videoattr.io import (
    as_frames,
    center_crop,
    denormalize,
    read_video,
    resize_frames,
    to_clip,
    write_video,
)

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
