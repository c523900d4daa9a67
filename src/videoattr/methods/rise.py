"""RISE (Petsiuk et al. 2018) for clips: the score-weighted average of random spatio-temporal masks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.model_checks import check_model_dtype
from videoattr.core.seeds import clip_seed
from videoattr.core.targets import Target, is_multi_target, resolve_target
from videoattr.core.validation import (
    check_clip,
    check_finite_float,
    check_finite_tensor,
    check_positive_int,
    describe,
)
from videoattr.methods._masked_forwards import (
    Baseline,
    baseline_for,
    check_baseline,
    make_scorer,
    masked_rows,
)
from videoattr.methods._memory import FORWARD_BATCH
from videoattr.methods.registry import register_method

#: Masks are drawn in blocks of this many, each block from its own generator, so that mask ``i`` depends
#: only on the seed and ``i`` (not on ``max_batch_size`` nor on the clips of the call).
MASK_BLOCK = 256
_AXES = ("t", "h", "w")


def _check_grid(grid: object) -> tuple[int, int, int]:
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or len(grid) != 3:
        raise TypeError(f"grid must be a (t, h, w) tuple of positive ints; got {describe(grid)}")
    for axis, value in zip(_AXES, grid, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"grid must be a (t, h, w) tuple of positive ints; got {tuple(grid)!r} ({axis} = {value!r})"
            )
    return (int(grid[0]), int(grid[1]), int(grid[2]))


def rise_masks(
    seed: int,
    size: Sequence[int],
    grid: Sequence[int],
    p: float,
    start: int,
    stop: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Masks ``start .. stop-1`` of the sequence that ``seed`` defines, ``(stop - start, 1, T, H, W)``.

    Mask ``i``: a ``(t, h, w)`` grid of cells, each kept (1) with probability ``p``, else 0, upsampled by
    trilinear interpolation (``align_corners=False``) to ``(t + 1, h + 1, w + 1)`` cells of
    ``ceil(T / t) x ceil(H / h) x ceil(W / w)`` voxels, then cropped to ``(T, H, W)`` at a random shift of
    less than one cell along each axis (Petsiuk et al. 2018, in three dimensions). The random numbers come
    from a CPU generator per block of `MASK_BLOCK` masks seeded from ``seed`` and the block's number, so
    mask ``i`` is the same whatever range it is asked in and on every device.

    Args:
        seed: the sequence's seed.
        size: the clip's ``(T, H, W)``.
        grid: cells ``(t, h, w)``, at most ``(T, H, W)``.
        p: probability that a cell is kept.
        start, stop: the range of masks.
        device, dtype: of the result.

    Example:
        >>> m = rise_masks(0, (8, 16, 16), (2, 4, 4), 0.5, 0, 3)
        >>> m.shape, torch.equal(m[1:], rise_masks(0, (8, 16, 16), (2, 4, 4), 0.5, 1, 3))
        (torch.Size([3, 1, 8, 16, 16]), True)
    """
    dims = (int(size[0]), int(size[1]), int(size[2]))
    cells = tuple(math.ceil(d / g) for d, g in zip(dims, grid, strict=True))
    upsampled = tuple((g + 1) * c for g, c in zip(grid, cells, strict=True))
    parts: list[Tensor] = []
    for block in range(start // MASK_BLOCK, (stop - 1) // MASK_BLOCK + 1 if stop > start else 0):
        gen = torch.Generator().manual_seed(clip_seed(seed, f"rise:{block}"))
        values = (torch.rand((MASK_BLOCK, *grid), generator=gen, dtype=torch.float64) < p).to(
            torch.float32
        )
        shifts = torch.stack(
            [torch.randint(0, c, (MASK_BLOCK,), generator=gen) for c in cells], dim=1
        )
        lo = max(start - block * MASK_BLOCK, 0)
        hi = min(stop - block * MASK_BLOCK, MASK_BLOCK)
        coarse = values[lo:hi].to(device).unsqueeze(1)
        fine = F.interpolate(coarse, size=upsampled, mode="trilinear", align_corners=False)[:, 0]
        s = shifts[lo:hi].to(fine.device)
        it = (s[:, 0:1] + torch.arange(dims[0], device=fine.device))[:, :, None, None]
        ih = (s[:, 1:2] + torch.arange(dims[1], device=fine.device))[:, None, :, None]
        iw = (s[:, 2:3] + torch.arange(dims[2], device=fine.device))[:, None, None, :]
        rows = torch.arange(hi - lo, device=fine.device)[:, None, None, None]
        parts.append(fine[rows, it, ih, iw])
    if not parts:
        return torch.zeros((0, 1, *dims), device=device, dtype=dtype)
    return torch.cat(parts).unsqueeze(1).to(dtype)


class RISE(Attributor):
    """RISE for clips: ``n`` random smooth masks, each weighted by the target's score on the masked clip.

    Mask ``M_i`` (see `rise_masks`) keeps each cell of a coarse ``grid`` with probability ``p`` and is
    upsampled trilinearly with a random shift; the masked clip is ``x * M_i + baseline * (1 - M_i)``. The
    map is ``sum_i s_i M_i / (n p)`` with ``s_i`` the target's score on masked clip ``i``: an estimate of
    the expected score given that a voxel is kept (Petsiuk et al. 2018). The score is the target's logit
    (or the callable target's value), as for every other map method; ``softmax=True`` scores the softmax
    probability instead, as Petsiuk et al. do (a callable target then receives probabilities).

    Every mask is applied to every clip of the call (the masks depend only on ``seed``): ``n`` forwards per
    clip plus one clean forward, in batches of at most ``max_batch_size`` masked clips; masks are made as
    the batches need them and the map is accumulated, so memory does not grow with ``n``. The same seed
    gives the same maps whatever ``max_batch_size`` is and whatever other clips share the call.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        n: number of masks. Default 2000 (see the docs' convergence table; Petsiuk et al. use 4000 to 8000
            for images).
        grid: coarse cells ``(t, h, w)``. Default ``(4, 7, 7)``: Petsiuk et al.'s ``7 x 7`` in space, four
            steps in time (cells of 4 frames for 16-frame clips).
        p: probability that a cell is kept, in ``(0, 1)``. Default 0.5.
        seed: seed of the masks. Default 0; ``None`` draws a new mask set every call from PyTorch's
            global generator.
        baseline: what masked-out voxels become: a float (in the normalised clip's units; default
            ``0.0``, the normalised clip's zero), ``"blur"`` (every frame blurred by a Gaussian of std
            ``max_blur`` pixels, the extremal methods' perturbation) or a tensor broadcastable to the clip.
        max_blur: the blur's std in pixels for ``baseline="blur"``. Default ``20.0``.
        softmax: score the target's softmax probability instead of its logit. Default ``False``: on a
            confident model probabilities saturate, and the logit's maps are less noisy for the same
            ``n``.
        max_batch_size: most masked clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18 at
            16 x 112 x 112); ``None`` puts all ``n * B`` in one.
        progress: a bar counting the forwards. Default ``True``.
        eval_mode: run the model in eval mode during the call (restored after).

    Example:
        >>> rise = RISE(model, n=2000, grid=(4, 7, 7), seed=0, max_batch_size=64)
        >>> maps = rise.attribute(clip, target=3)   # (B, 1, T, H, W)
    """

    method_name: ClassVar[str | None] = "rise"

    def __init__(
        self,
        model: nn.Module,
        *,
        n: int = 2000,
        grid: tuple[int, int, int] = (4, 7, 7),
        p: float = 0.5,
        seed: int | None = 0,
        baseline: Baseline = 0.0,
        max_blur: float = 20.0,
        softmax: bool = False,
        max_batch_size: int | None = FORWARD_BATCH,
        progress: bool = True,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        self.n = check_positive_int(n, "n")
        self.grid = _check_grid(grid)
        self.p = check_finite_float(p, "p")
        if not 0.0 < self.p < 1.0:
            raise ValueError(f"p must be a probability strictly inside (0, 1); got {p!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None; got {describe(seed)}")
        self.seed = seed
        self.baseline = check_baseline(baseline)
        self.max_blur = check_finite_float(max_blur, "max_blur")
        if self.max_blur <= 0:
            raise ValueError(f"max_blur must be a positive std in pixels; got {max_blur!r}")
        self.softmax = bool(softmax)
        self.progress = bool(progress)

    def masks(
        self,
        size: Sequence[int],
        start: int = 0,
        stop: int | None = None,
        *,
        seed: int | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """The masks a call on clips of ``(T, H, W)`` = ``size`` uses: ``(stop - start, 1, T, H, W)``.

        Args:
            size: the clips' ``(T, H, W)``.
            start, stop: the range of masks (default all ``n``).
            seed: default the attributor's ``seed`` (required when that is ``None``).
            device: of the result.

        Raises:
            ValueError: a grid finer than the clip, or no seed.
        """
        seed = self.seed if seed is None else seed
        if seed is None:
            raise ValueError("seed must be given when the attributor's seed is None")
        dims = self._check_size(size)
        return rise_masks(
            seed, dims, self.grid, self.p, start, self.n if stop is None else stop, device
        )

    def _check_size(self, size: Sequence[int]) -> tuple[int, int, int]:
        dims = (int(size[0]), int(size[1]), int(size[2]))
        if any(g > d for g, d in zip(self.grid, dims, strict=True)):
            raise ValueError(
                f"grid must have at most one cell per voxel: (t, h, w) <= (T, H, W) = {dims}; got grid "
                f"{self.grid}"
            )
        return dims

    def attribute(
        self, x: Tensor, target: Target = None, *, masks: Tensor | None = None, **overrides: Any
    ) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class of each clean clip), an int, one int per clip, a callable (applied
                to the logits, or to the probabilities with ``softmax=True``), or several targets per
                clip (a ``(B, K)`` tensor, ``"top3"``: ``(B, K, 1, T, H, W)`` maps from the same forwards).
            masks: optional explicit masks ``(m, 1, T, H, W)`` (or ``(m, T, H, W)``) with values in
                ``[0, 1]``, used instead of drawing ``n`` (``n``, ``grid`` and ``seed`` are then unused; the
                map is ``sum_i s_i M_i / (m p)``).
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).
        """
        x = check_clip(x)
        check_model_dtype(self.model, x, "x")
        b, t, h, w = x.shape[0], x.shape[2], x.shape[3], x.shape[4]
        if not is_multi_target(target):
            resolve_target(target, b, x.device)  # malformed targets fail before any forward
        if masks is not None:
            given = self._check_masks(masks, (t, h, w)).to(x.device, x.dtype)
            n = given.shape[0]

            def keep(start: int, stop: int) -> Tensor:
                return given[start:stop]
        else:
            dims = self._check_size((t, h, w))
            n = self.n
            seed = self.seed
            if seed is None:
                seed = int(torch.randint(0, 2**62, (1,)).item())

            def keep(start: int, stop: int) -> Tensor:
                return rise_masks(seed, dims, self.grid, self.p, start, stop, x.device, x.dtype)

        base = baseline_for(x, self.baseline, self.max_blur)
        with self.session(), torch.no_grad():
            scorer = make_scorer(self, x, target, self.clean_logits(x), softmax=self.softmax)
            k = scorer.k
            total = x.new_zeros(b * k, t * h * w)
            for mask_index, clip_index, scores, chunk_masks in masked_rows(
                self, x, base, scorer, n, keep, progress=self.progress, description="rise"
            ):
                rows = mask_index.shape[0]
                weights = x.new_zeros(rows, b, k)
                weights[torch.arange(rows, device=x.device), clip_index] = scores
                m = chunk_masks[mask_index - mask_index[0]].reshape(rows, t * h * w)
                total += weights.view(rows, b * k).T @ m
        maps = (total / (n * self.p)).view(b, k, t, h, w).detach()
        return maps.unsqueeze(2) if scorer.indices is not None else maps

    @staticmethod
    def _check_masks(masks: object, size: tuple[int, int, int]) -> Tensor:
        if not isinstance(masks, Tensor) or not masks.is_floating_point():
            raise TypeError(
                f"masks must be a floating-point tensor of shape (m, 1, {size[0]}, {size[1]}, {size[2]}); "
                f"got {describe(masks)}"
            )
        m = masks.unsqueeze(1) if masks.dim() == 4 else masks
        if m.dim() != 5 or m.shape[0] < 1 or tuple(m.shape[1:]) != (1, *size):
            raise ValueError(
                f"masks must have shape (m, 1, {size[0]}, {size[1]}, {size[2]}) with m >= 1; got shape "
                f"{tuple(masks.shape)}"
            )
        check_finite_tensor(m, "masks")
        if float(m.min()) < 0 or float(m.max()) > 1:
            raise ValueError(
                f"masks must hold values in [0, 1]; got values in [{float(m.min()):.3g}, {float(m.max()):.3g}]"
            )
        return m.detach()


register_method(
    "rise",
    RISE,
    aliases=("RISE", "randomized_input_sampling"),
    kind="black_box",
    summary="score-weighted average of random smooth spatio-temporal masks (Petsiuk et al. 2018)",
)
