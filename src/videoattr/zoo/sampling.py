"""A model's frame sampling: the mode and clip length of [`sample_indices`][videoattr.io.sample_indices]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from videoattr.io.sampling import normalize_sampling, sample_indices

__all__ = ["FrameSampling", "ModelSampling"]

ModelSampling = Literal["strided", "segments"]
"""The sampling modes an adapter may use."""


@dataclass(frozen=True)
class FrameSampling:
    """Which frames of a video of ``n`` frames make up one clip of ``clip_len`` frames.

    A stored mode of the one sampler, [`sample_indices`][videoattr.io.sample_indices].

    Attributes:
        kind: ``"strided"``: every ``floor(n / clip_len)``-th frame from the first, keeping the last
            ``clip_len`` (the reference implementation's sampling, Li et al., WACV 2021, for 3-D
            CNNs); ``"segments"``: the centre frame of each of ``clip_len`` equal segments (TSN/TSM
            test-time sampling, also used for the transformers).
        clip_len: number of frames ``T`` in a clip.

    Example:
        >>> FrameSampling("strided", 4).indices(10)
        [2, 4, 6, 8]
    """

    kind: ModelSampling
    clip_len: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", normalize_sampling(self.kind))
        if self.kind not in ("strided", "segments"):
            raise ValueError(
                f"FrameSampling kind must be 'strided' or 'segments'; got {self.kind!r}"
            )
        if (
            isinstance(self.clip_len, bool)
            or not isinstance(self.clip_len, int)
            or self.clip_len < 1
        ):
            raise ValueError(f"clip_len must be a positive int; got {self.clip_len!r}")

    def indices(self, num_frames: int, *, source: str = "video") -> list[int]:
        """Frame indices (length ``clip_len``) into a video of ``num_frames`` frames.

        Args:
            num_frames: ``n``, the number of frames of the video.
            source: how to name the video in error messages.

        Raises:
            VideoTooShortError: ``num_frames < clip_len`` (a ``ValueError``); frames are never
                repeated to fill a clip.
        """
        return sample_indices(num_frames, self.clip_len, self.kind, source=source)
