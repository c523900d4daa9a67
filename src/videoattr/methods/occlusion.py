"""Occlusion (Zeiler & Fergus 2014) for clips: slide a spatio-temporal window, measure the score's drop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.model_checks import check_model_dtype
from videoattr.core.targets import Target, is_multi_target, resolve_target
from videoattr.core.validation import check_clip, check_finite_float, check_positive_int, describe
from videoattr.methods._masked_forwards import (
    Baseline,
    baseline_for,
    check_baseline,
    make_scorer,
    masked_rows,
)
from videoattr.methods._memory import FORWARD_BATCH
from videoattr.methods.registry import register_method

#: A window extent per axis ``(t, h, w)``; ``None`` spans the whole axis.
Window = tuple[int | None, int | None, int | None]
_AXES = ("t", "h", "w")


def _check_window(window: object) -> Window:
    if isinstance(window, (str, bytes)) or not isinstance(window, Sequence) or len(window) != 3:
        raise TypeError(
            "window must be a (t, h, w) tuple of positive ints (None: the whole axis); got "
            f"{describe(window)}"
        )
    out: list[int | None] = []
    for axis, value in zip(_AXES, window, strict=True):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                "window must be a (t, h, w) tuple of positive ints (None: the whole axis); got "
                f"{tuple(window)!r} ({axis} = {value!r})"
            )
        out.append(value)
    return (out[0], out[1], out[2])


def _check_strides(strides: object) -> tuple[int, int, int] | None:
    if strides is None:
        return None
    if isinstance(strides, int) and not isinstance(strides, bool):
        strides = (strides, strides, strides)
    if isinstance(strides, (str, bytes)) or not isinstance(strides, Sequence) or len(strides) != 3:
        raise TypeError(
            f"strides must be None, a positive int or a (t, h, w) tuple of positive ints; got "
            f"{describe(strides)}"
        )
    for axis, value in zip(_AXES, strides, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"strides must be positive ints; got {tuple(strides)!r} ({axis} = {value!r})"
            )
    return (int(strides[0]), int(strides[1]), int(strides[2]))


def window_positions(size: int, window: int, stride: int) -> Tensor:
    """Indicators ``(P, size)`` of the window positions along one axis (Captum's sliding windows).

    Windows start at ``0, stride, 2 stride, ...`` while the previous one did not reach the end:
    ``P = ceil((size - window) / stride) + 1`` positions; the last window is cut at the clip's edge when
    ``stride`` does not divide ``size - window``.

    Example:
        >>> window_positions(5, 2, 2).int().tolist()
        [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]]
    """
    count = math.ceil((size - window) / stride) + 1
    starts = torch.arange(count).unsqueeze(1) * stride
    index = torch.arange(size).unsqueeze(0)
    return ((index >= starts) & (index < starts + window)).to(torch.float64)


class Occlusion(Attributor):
    """Occlusion for clips: the average drop of the target score when a window around a voxel is occluded.

    A window of ``(t, h, w)`` voxels slides over the clip with ``strides`` (Captum's sliding windows:
    positions ``0, s, 2s, ...`` along each axis, the last one cut at the clip's edge). For every position
    the voxels inside the window are replaced by the ``baseline`` (all channels) and the model is run; the
    map at a voxel is the average, over the windows that cover it, of ``score(clip) - score(occluded)``.
    The score is the target's logit (or the callable target's output), as in Captum's ``Occlusion``, whose
    maps these equal. Positive values: occluding the voxel lowers the score.

    Every window position of every clip is one row of a batched forward (``max_batch_size`` rows at most;
    memory does not grow with the number of positions). A call costs one forward of the clean clips plus
    ``P_t * P_h * P_w`` forwards per clip, ``P = ceil((size - window) / stride) + 1`` per axis: 1183 for a
    ``16 x 112 x 112`` clip with the defaults, 196 with ``strides=window``. Several targets per clip are
    scored from the same forwards.

    For "which moments matter", occlude whole frames: ``window=(1, None, None)`` (``None`` spans the whole
    axis), or [`TemporalOcclusion`][videoattr.methods.occlusion.TemporalOcclusion] (about ``T`` forwards).

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        window: window extent ``(t, h, w)`` in frames and pixels; ``None`` spans the whole axis. Default
            ``(4, 16, 16)``: for ``16 x 112 x 112`` clips a quarter of the clip's duration and a seventh of
            its width (the spatial resolution of the usual 3-D CNNs' last layer, ``7 x 7``), large enough
            to hide a hand or a ball, small enough to localise it.
        strides: step between window positions, an int (every axis) or ``(t, h, w)``; at most the window
            (every voxel is occluded at least once). Default ``None``: half the window, rounded down
            (at least 1), so that every interior voxel lies in ``2 x 2 x 2`` windows and the maps are
            smooth.
        baseline: what replaces occluded voxels: a float (in the normalised clip's units; ``0``: the
            dataset's mean colour when the clip is normalised with it), ``"blur"`` (the clip blurred by a
            Gaussian of std ``max_blur`` pixels in every frame, as the extremal methods' perturbation),
            or a tensor broadcastable to the clip ``(B, C, T, H, W)``. Default ``0.0``.
        max_blur: the blur's std in pixels for ``baseline="blur"``. Default ``20.0``.
        max_batch_size: most occluded clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18 at
            16 x 112 x 112); ``None`` puts every position of every clip in one forward.
        progress: a bar counting the forwards. Default ``True``.
        eval_mode: run the model in eval mode during the call (restored after).

    Raises:
        TypeError, ValueError: a malformed ``window``, ``strides`` or ``baseline`` (at call time: a window
            larger than the clip, or a baseline that does not broadcast to it).

    Example:
        >>> occ = Occlusion(model, window=(4, 16, 16), baseline="blur", max_batch_size=64)
        >>> maps = occ.attribute(clip, target=3)   # (B, 1, T, H, W)
    """

    method_name: ClassVar[str | None] = "occlusion"

    def __init__(
        self,
        model: nn.Module,
        *,
        window: Window = (4, 16, 16),
        strides: int | tuple[int, int, int] | None = None,
        baseline: Baseline = 0.0,
        max_blur: float = 20.0,
        max_batch_size: int | None = FORWARD_BATCH,
        progress: bool = True,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        self.window = _check_window(window)
        self.strides = _check_strides(strides)
        if self.strides is not None:
            for axis, w, s in zip(_AXES, self.window, self.strides, strict=True):
                if w is not None and s > w:
                    raise ValueError(
                        f"strides must not exceed the window (voxels between windows would never be "
                        f"occluded); got strides {self.strides} for window {self.window} ({axis})"
                    )
        self.baseline = check_baseline(baseline)
        self.max_blur = check_finite_float(max_blur, "max_blur")
        if self.max_blur <= 0:
            raise ValueError(f"max_blur must be a positive std in pixels; got {max_blur!r}")
        self.progress = bool(progress)

    def geometry(self, size: Sequence[int]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """The window and strides in voxels for clips of ``(T, H, W)`` = ``size``.

        Raises:
            ValueError: the window is larger than the clip.
        """
        dims = (int(size[0]), int(size[1]), int(size[2]))
        window = tuple(d if w is None else w for w, d in zip(self.window, dims, strict=True))
        if any(w > d for w, d in zip(window, dims, strict=True)):
            raise ValueError(
                f"window must fit in the clip: (t, h, w) <= (T, H, W) = {dims}; got window {self.window}"
            )
        # strides were checked against the window in the constructor; a whole axis has one position
        strides = tuple(max(1, w // 2) for w in window) if self.strides is None else self.strides
        return (window[0], window[1], window[2]), (strides[0], strides[1], strides[2])

    def num_positions(self, size: Sequence[int]) -> int:
        """Window positions (forwards per clip and target, besides the clean one) for clips of ``(T, H, W)``."""
        window, strides = self.geometry(size)
        return math.prod(
            math.ceil((d - w) / s) + 1 for d, w, s in zip(size, window, strides, strict=True)
        )

    def attribute(self, x: Tensor, target: Target = None, **overrides: Any) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class of each clean clip), an int, one int per clip, a callable
                ``logits (N, K) -> (N,)``, or several targets per clip (a ``(B, K)`` tensor, ``"top3"``:
                ``(B, K, 1, T, H, W)`` maps from the same forwards).
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).
        """
        x = check_clip(x)
        check_model_dtype(self.model, x, "x")
        b = x.shape[0]
        if not is_multi_target(target):
            resolve_target(target, b, x.device)  # malformed targets fail before any forward
        window, strides = self.geometry(x.shape[2:])
        axes = [
            window_positions(d, w, s).to(x.device, x.dtype)
            for d, w, s in zip(x.shape[2:], window, strides, strict=True)
        ]
        pt, ph, pw = (a.shape[0] for a in axes)
        n = pt * ph * pw
        base = baseline_for(x, self.baseline, self.max_blur)

        def keep(start: int, stop: int) -> Tensor:
            pos = torch.arange(start, stop, device=x.device)
            it, ih, iw = pos // (ph * pw), (pos // pw) % ph, pos % pw
            box = (
                axes[0][it, :, None, None] * axes[1][ih, None, :, None] * axes[2][iw, None, None, :]
            )
            return (1 - box).unsqueeze(1)

        with self.session(), torch.no_grad():
            logits = self.clean_logits(x)
            scorer = make_scorer(self, x, target, logits)
            clean = scorer(logits, torch.arange(b, device=x.device)).to(x.dtype)
            drops = x.new_zeros(n, b, scorer.k)
            for mask_index, clip_index, scores, _ in masked_rows(
                self, x, base, scorer, n, keep, progress=self.progress, description="occlusion"
            ):
                drops[mask_index, clip_index] = clean[clip_index] - scores
        d = drops.view(pt, ph, pw, b, scorer.k)
        total = torch.einsum("ijlbk,it,jh,lw->bkthw", d, *axes)
        count = torch.einsum("it,jh,lw->thw", *axes)
        maps = (total / count).detach()
        return maps.unsqueeze(2) if scorer.indices is not None else maps


class TemporalOcclusion(Occlusion):
    """Occlusion of whole frames (or spans of frames): which moments of the clip the score depends on.

    [`Occlusion`][videoattr.methods.occlusion.Occlusion] with the window ``(span, H, W)`` sliding over
    time only, by ``stride`` frames: about ``T`` forwards per clip. The map is constant over each frame:
    the average drop of the target score when a span of frames containing that frame is replaced by the
    baseline.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        span: frames occluded together. Default 1.
        stride: frames between span positions, at most ``span``. Default 1 (``T - span + 1`` forwards).
        baseline: ``"blur"``, a float or a tensor broadcastable to the clip (see
            [`Occlusion`][videoattr.methods.occlusion.Occlusion]). Default ``0.0``.
        max_blur: the blur's std in pixels for ``baseline="blur"``. Default ``20.0``.
        max_batch_size: most occluded clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18
            at 16 x 112 x 112).
        progress: a bar counting the forwards. Default ``True``.
        eval_mode: run the model in eval mode during the call (restored after).

    Example:
        >>> maps = TemporalOcclusion(model, span=2).attribute(clip, target=3)   # (B, 1, T, H, W)
        >>> per_frame = maps[:, 0, :, 0, 0]                                     # (B, T)
    """

    method_name: ClassVar[str | None] = "temporal_occlusion"

    def __init__(
        self,
        model: nn.Module,
        *,
        span: int = 1,
        stride: int = 1,
        baseline: Baseline = 0.0,
        max_blur: float = 20.0,
        max_batch_size: int | None = FORWARD_BATCH,
        progress: bool = True,
        eval_mode: bool = True,
    ) -> None:
        self.span = check_positive_int(span, "span")
        self.stride = check_positive_int(stride, "stride")
        if self.stride > self.span:
            raise ValueError(
                f"stride must not exceed span (frames between spans would never be occluded); got "
                f"stride {stride} for span {span}"
            )
        super().__init__(
            model,
            window=(self.span, None, None),
            strides=(self.stride, 1, 1),
            baseline=baseline,
            max_blur=max_blur,
            max_batch_size=max_batch_size,
            progress=progress,
            eval_mode=eval_mode,
        )


register_method(
    "occlusion",
    Occlusion,
    aliases=("Occlusion", "occ"),
    kind="black_box",
    summary="average drop of the target score when a sliding (t, h, w) window is occluded",
)
register_method(
    "temporal_occlusion",
    TemporalOcclusion,
    aliases=("TemporalOcclusion", "frame_occlusion", "occlusion_frames"),
    kind="black_box",
    summary="drop of the target score when whole frames (spans) are occluded: which moments matter",
)
