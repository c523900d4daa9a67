"""Windows over a video: where they start ([`window_starts`][videoattr.pipeline.windows.window_starts]),
the checks of their settings, and the model's probabilities on each
([`score_windows`][videoattr.pipeline.windows.score_windows]). How a whole video is explained with
them is in [`videoattr.pipeline.whole_video`][videoattr.pipeline.whole_video].

Window ``k`` is ``T`` consecutive sampled frames starting at sampled position ``p_k``; the positions
are ``0, S, 2S, ...`` for the ``stride`` ``1 <= S <= T`` while a window fits, plus one last window
aligned to the end when the regular ones leave frames at the tail uncovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from videoattr.core.batching import chunk_slices
from videoattr.core.state import model_session
from videoattr.core.validation import check_choice, check_positive_int, describe
from videoattr.io.video_frames import VideoFrames

__all__ = [
    "DEFAULT_WINDOW_BATCH",
    "SHORT_VIDEO",
    "check_window_settings",
    "model_device_dtype",
    "score_windows",
    "window_starts",
]

#: Windows per model call when neither ``max_batch_size`` nor the attributor's bound is given.
DEFAULT_WINDOW_BATCH = 8
#: What a video shorter than one window does: repeat its last frame, or raise.
SHORT_VIDEO: tuple[str, ...] = ("pad", "error")
ShortVideo = Literal["pad", "error"]


def window_starts(num_frames: int, clip_len: int, stride: int) -> list[int]:
    """Start positions of the windows over ``num_frames`` (sampled) frames.

    ``0, stride, 2 stride, ...`` while a window of ``clip_len`` frames fits, then ``num_frames -
    clip_len`` when frames at the end are left uncovered; ``[0]`` when the video is shorter than
    one window.

    Raises:
        ValueError: an argument that is not a positive int, or ``stride > clip_len`` (frames
            between windows would be left out).

    Example:
        >>> window_starts(20, 8, 4)
        [0, 4, 8, 12]
        >>> window_starts(23, 8, 4)
        [0, 4, 8, 12, 15]
        >>> window_starts(5, 8, 4)
        [0]
    """
    n = check_positive_int(num_frames, "num_frames")
    t = check_positive_int(clip_len, "clip_len")
    s = check_positive_int(stride, "stride")
    if s > t:
        raise ValueError(
            f"stride must be at most clip_len={t} (a larger stride leaves frames between windows "
            f"unexplained); got stride={s}"
        )
    if n <= t:
        return [0]
    starts = list(range(0, n - t + 1, s))
    if starts[-1] + t < n:
        starts.append(n - t)
    return starts


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and dtype of the model's first floating-point parameter (CPU float32 without one)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def score_windows(
    model: nn.Module,
    video: VideoFrames,
    starts: Sequence[int],
    clip_len: int,
    *,
    max_batch_size: int | None = DEFAULT_WINDOW_BATCH,
) -> Tensor:
    """The model's softmax probabilities ``(W, K)`` on each window (float32, CPU), without a graph.

    The model runs in eval mode (its modes are restored afterwards), as the attributors run it.

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits.
        video: the sampled frames.
        starts: sampled positions of the windows (see [`window_starts`][videoattr.pipeline.window_starts]).
        clip_len: ``T``.
        max_batch_size: windows per forward. Default 8.
    """
    device, dtype = model_device_dtype(model)
    rows: list[Tensor] = []
    with model_session(model, eval_mode=True), torch.no_grad():
        for sl in chunk_slices(len(starts), max_batch_size):
            x = video.windows(starts[sl], clip_len, device=device, dtype=dtype)
            logits = model(x)
            rows.append(torch.softmax(logits.detach().float(), dim=1).cpu())
    return torch.cat(rows)


def check_window_settings(
    model: nn.Module,
    clip_len: int | None,
    stride: int | None,
    max_batch_size: int | None,
    short_video: str,
) -> tuple[int, int]:
    """Check the window settings of a whole-video call; returns ``(T, S)``."""
    check_choice(short_video, "short_video", SHORT_VIDEO)
    t = clip_len if clip_len is not None else getattr(model, "clip_len", None)
    if t is None:
        raise TypeError(
            f"clip_len must be given for a model without a clip_len; got model={describe(model)}"
        )
    t = check_positive_int(t, "clip_len")
    s = max(1, t // 2) if stride is None else check_positive_int(stride, "stride")
    window_starts(t, t, s)  # checks 1 <= stride <= clip_len before any work
    if max_batch_size is not None:
        check_positive_int(max_batch_size, "max_batch_size")
    return t, s
