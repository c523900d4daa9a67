"""Frame sampling: which frames of a video of ``n`` frames make up a clip of ``T`` frames.

This is the one sampler of videoattr: [`read_video`][videoattr.io.read_video] and the model adapters'
[`FrameSampling`][videoattr.zoo.FrameSampling] both call [`sample_indices`][videoattr.io.sample_indices].

Modes, for a video of ``n`` frames and ``T`` requested frames:

- ``"uniform"``: ``T`` indices evenly spaced over the whole video,
  ``round_half_up(linspace(0, n - 1, T))``.
- ``"strided"``: the sampling of the reference implementation (Li et al., WACV 2021) for 3-D CNNs:
  the indices ``0, s, 2s, ...`` below ``n`` with stride ``s = floor(n / T)``, of which the last
  ``T`` are kept. For ``n = 35, T = 16``: ``s = 2``, the strided indices are ``0, 2, ..., 34``
  (18 of them) and the clip is ``4, 6, ..., 34``.
- ``"segments"``: the centre frame of each of ``T`` equal segments, ``floor(n/T * (i + 1/2))``
  (test-time sampling of TSN/TSM, also used for the video transformers).
- a sequence of ints: those frames, in the given order (repeats allowed), each in ``[0, n)``.

Short videos: every named mode needs ``n >= T``. A shorter video raises
[`VideoTooShortError`][videoattr.io.VideoTooShortError] naming the video and its frame count; frames are never
silently repeated. (Pass explicit indices to repeat frames on purpose.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from torch import Tensor

from videoattr.core.validation import check_positive_int, describe
from videoattr.io.errors import VideoTooShortError

__all__ = ["SAMPLINGS", "Sampling", "normalize_sampling", "sample_indices"]

Sampling = Literal["uniform", "strided", "segments"]
SAMPLINGS: tuple[str, ...] = ("uniform", "strided", "segments")


def normalize_sampling(name: str) -> str:
    """``name`` checked to be one of the sampling modes.

    Raises:
        ValueError: an unknown mode (``"stride"``, the first release's name of ``"strided"``,
            included: the message names the mode to use).
    """
    if name not in SAMPLINGS:
        hint = "; 'stride' is now 'strided' (the same algorithm)" if name == "stride" else ""
        raise ValueError(
            f"sampling must be one of {list(SAMPLINGS)} or a sequence of frame indices; got "
            f"{name!r}{hint}"
        )
    return name


def sample_indices(
    num_available: int,
    num_frames: int | None,
    sampling: Sampling | Sequence[int] = "uniform",
    *,
    source: str = "video",
) -> list[int]:
    """Indices of the frames to keep from a video of ``num_available`` frames.

    Args:
        num_available: ``n``, the number of frames in the video (``>= 0``).
        num_frames: ``T``, the number of frames wanted; ``None`` keeps every frame (or, with
            explicit indices, however many indices are given; otherwise it must equal their count).
        sampling: ``"uniform"`` (default), ``"strided"`` (the reference implementation's sampling),
            ``"segments"`` or a sequence of explicit indices in ``[0, n)``; see the module docs.
        source: how to name the video in error messages (a file name).

    Returns:
        A list of ``T`` frame indices.

    Raises:
        VideoTooShortError: ``n < T`` for a named mode, or ``n == 0``.
        ValueError: an unknown mode, an explicit index outside ``[0, n)``, or ``num_frames`` that
            disagrees with the number of explicit indices.
        TypeError: ``num_frames`` or an explicit index is not an int.

    Example:
        >>> sample_indices(35, 16, "strided")[:3]
        [4, 6, 8]
        >>> sample_indices(10, 4, "uniform")
        [0, 3, 6, 9]
        >>> sample_indices(40, 4, "segments")
        [5, 15, 25, 35]
    """
    n = num_available
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"num_available must be an int; got {describe(n)}")
    if n <= 0:
        raise VideoTooShortError(f"{source} has 0 frames; cannot sample frames from it")
    if isinstance(sampling, str):
        mode = normalize_sampling(sampling)
        if num_frames is None:
            return list(range(n))
        t = check_positive_int(num_frames, "num_frames")
        if n < t:
            raise VideoTooShortError(
                f"{source} has {n} frames, too few for {mode} sampling of num_frames={t} "
                f"(needs at least {t} frames)"
            )
        if mode == "uniform":
            if t == 1:
                return [0]
            # round_half_up(i (n - 1) / (T - 1)) in exact integer arithmetic.
            return [(2 * i * (n - 1) + t - 1) // (2 * (t - 1)) for i in range(t)]
        if mode == "segments":
            # floor(n / T * (i + 1/2)) in exact integer arithmetic.
            return [(n * (2 * i + 1)) // (2 * t) for i in range(t)]
        stride = n // t
        return list(range(0, n, stride))[-t:]
    indices = _check_indices(sampling, n, source)
    if num_frames is not None and num_frames != len(indices):
        raise ValueError(
            f"num_frames={num_frames!r} disagrees with the {len(indices)} explicit indices given "
            "as sampling; pass num_frames=None or the same count"
        )
    return indices


def _check_indices(sampling: object, n: int, source: str) -> list[int]:
    if isinstance(sampling, Tensor):
        sampling = sampling.flatten().tolist()
    if isinstance(sampling, np.ndarray):
        sampling = sampling.ravel().tolist()
    if not isinstance(sampling, Sequence) or isinstance(sampling, (str, bytes)):
        raise TypeError(
            f"sampling must be one of {list(SAMPLINGS)} or a sequence of ints; "
            f"got {describe(sampling)}"
        )
    indices: list[int] = []
    for i in sampling:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"frame indices must be ints; got {describe(i)}")
        indices.append(int(i))
    if not indices:
        raise ValueError("sampling must contain at least one frame index; got an empty sequence")
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ValueError(
            f"frame indices {bad[:10]} are out of range for {source}, which has {n} frames "
            f"(valid: 0 to {n - 1})"
        )
    return indices
