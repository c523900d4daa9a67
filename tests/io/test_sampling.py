"""Frame sampling: the one sampler, :func:`videoattr.io.sample_indices`."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videoattr.io import VideoTooShortError, sample_indices


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


@pytest.mark.parametrize("mode", ["uniform", "strided", "segments"])
def test_too_short_for_sampling(mode: str) -> None:
    with pytest.raises(VideoTooShortError, match=r"v.mp4 has 5 frames, too few .* num_frames=8"):
        sample_indices(5, 8, mode, source="v.mp4")  # type: ignore[arg-type]


def test_segments_sampling_hand_computed() -> None:
    assert sample_indices(40, 4, "segments") == [5, 15, 25, 35]
    assert sample_indices(10, 4, "segments") == [1, 3, 6, 8]
    assert sample_indices(4, 4, "segments") == [0, 1, 2, 3]
    with pytest.raises(VideoTooShortError, match="has 3 frames, too few for segments"):
        sample_indices(3, 4, "segments")


def test_stride_is_no_longer_an_alias() -> None:
    with pytest.raises(ValueError, match="got 'stride'; 'stride' is now 'strided'"):
        sample_indices(35, 16, "stride")  # type: ignore[arg-type]
