"""Synthetic clips shared by the io tests (built in memory, never downloaded)."""

from __future__ import annotations

import numpy as np
import torch

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
