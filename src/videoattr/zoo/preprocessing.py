"""A model's preprocessing: the stored arguments of [`to_clip`][videoattr.io.to_clip]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from torch import Tensor

from videoattr.io.preprocessing import to_clip

__all__ = ["Frames", "Preprocessing"]

Frames: TypeAlias = Tensor | np.ndarray


@dataclass(frozen=True)
class Preprocessing:
    """uint8 frames to a normalised clip, as torchvision's ``VideoClassification`` preset does it.

    Frames are resized (``resize`` = ``(s,)`` scales the shorter side to ``s``; ``(h, w)`` resizes to
    exactly that size) on their uint8 values with bilinear interpolation (rounded back to integers),
    centre-cropped to ``crop``, scaled to ``[0, 1]`` and normalised with ``mean``/``std``: that is
    [`to_clip`][videoattr.io.to_clip], the one preprocessing of videoattr. With ``antialias=False`` (the
    default, as in torchvision's video presets) the result equals ``weights.transforms()`` of
    torchvision's video models.

    Example:
        >>> prep = Preprocessing((128, 171), (112, 112), (0.43, 0.39, 0.38), (0.23, 0.22, 0.22))
        >>> prep(np.zeros((16, 240, 320, 3), np.uint8)).shape
        torch.Size([1, 3, 16, 112, 112])
    """

    resize: tuple[int] | tuple[int, int]
    crop: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    antialias: bool = False

    def __call__(self, frames: Frames) -> Tensor:
        """Frames ``(T, H, W, 3)`` (uint8, numpy or tensor) to a float32 clip ``(1, 3, T, h, w)``.

        Float frames are accepted too and taken to be in ``[0, 1]``; ``(B, T, H, W, 3)`` frames
        give ``(B, 3, T, h, w)``.

        Raises:
            TypeError: frames that are neither uint8 nor floating point.
            ValueError: frames of another shape than ``(T, H, W, 3)``.
        """
        return to_clip(
            frames,
            self.mean,
            self.std,
            size=self.resize,
            crop=self.crop,
            antialias=self.antialias,
        )
