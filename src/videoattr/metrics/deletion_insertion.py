"""Deletion and insertion curves (Petsiuk et al. 2018) for video attributions.

Voxels are ranked by the attribution map, highest first. The **deletion** curve replaces the top ``k/n``
fraction of voxels of the clip by the blurred clip and records the target probability; the **insertion**
curve starts from the blurred clip and puts the top ``k/n`` fraction of the original voxels back. A good
map makes the deletion curve fall fast (low area under the curve) and the insertion curve rise fast (high
area). A voxel is one ``(t, y, x)`` position of all channels.

Ranking: ``(B, A, T, H, W)`` maps with ``A > 1`` (perturbation masks at several areas) are summed over
``A`` first; voxels of equal value are ordered by a seeded random permutation, so flat plateaus are not
deleted in raster order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from videoattr.core.ops import gaussian_blur_frames
from videoattr.core.targets import Target
from videoattr.core.validation import check_positive_int, describe
from videoattr.metrics._common import (
    check_maps,
    check_same_clip_grid,
    combine_channels,
    default_blur_sigma,
    target_scores,
    validate_model_inputs,
)

__all__ = ["CurveResult", "deletion", "insertion", "rank_voxels", "voxel_curve"]


@dataclass(frozen=True)
class CurveResult:
    """A deletion or insertion curve per clip.

    Attributes:
        fractions: ``(S + 1,)`` fractions of voxels deleted/inserted, ``0, 1/S, ..., 1``.
        scores: ``(B, S + 1)`` target probability (or the callable target's score) at each fraction.
        auc: ``(B,)`` area under each curve over ``[0, 1]`` (trapezoidal rule).
        mode: ``"deletion"`` or ``"insertion"``.
    """

    fractions: Tensor
    scores: Tensor
    auc: Tensor
    mode: str


def rank_voxels(maps: Tensor, seed: int = 0) -> Tensor:
    """Rank of every voxel of ``(B, A, T, H, W)`` maps: 0 for the highest value, ties in seeded random order.

    Returns:
        ``(B, T * H * W)`` long ranks (a permutation of ``range(T * H * W)`` per clip).
    """
    flat = combine_channels(check_maps(maps)).flatten(1)
    b, n = flat.shape
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(n, generator=g) for _ in range(b)]).to(flat.device)
    shuffled = flat.gather(1, perm)
    order = torch.sort(shuffled, dim=1, descending=True, stable=True).indices
    voxel_order = perm.gather(1, order)  # voxel index at each rank
    ranks = torch.empty_like(voxel_order)
    ranks.scatter_(1, voxel_order, torch.arange(n, device=flat.device).expand(b, n).contiguous())
    return ranks


def voxel_curve(
    model: nn.Module,
    x: Tensor,
    attribution: Tensor,
    target: Target = None,
    *,
    mode: str = "deletion",
    steps: int = 20,
    baseline: Tensor | None = None,
    blur_sigma: float | None = None,
    max_batch_size: int | None = None,
    seed: int = 0,
) -> CurveResult:
    """Deletion or insertion curve of ``attribution`` for clips ``x``.

    Args:
        model: the classifier, ``(N, C, T, H, W) -> (N, K)`` logits.
        x: clips ``(B, C, T, H, W)``.
        attribution: maps ``(B, 1|A, T, H, W)`` on the clips' grid (masks at several areas are summed).
        target: any target form; ``None`` is each clip's top class on the clean clip. The curve records the
            softmax probability of the target (a callable target's score as is).
        mode: ``"deletion"`` (start from ``x``, replace the top voxels by the baseline) or ``"insertion"``
            (start from the baseline, put the top voxels of ``x`` back).
        steps: number of steps ``S``; the curve has ``S + 1`` points. Default 20.
        baseline: the clip that replaces deleted voxels, broadcastable to ``x``; default the blurred clip.
        blur_sigma: std in pixels of the per-frame Gaussian blur of the default baseline; default
            ``20 * min(H, W) / 112`` (the strongest blur of the extremal perturbation pyramid, scaled).
        max_batch_size: the most perturbed clips in one forward; ``None`` for all ``B * (S + 1)`` at once.
        seed: seed of the random order among voxels of equal attribution. Default 0.

    Returns:
        A [`CurveResult`][videoattr.metrics.deletion_insertion.CurveResult] on ``x``'s device.

    Raises:
        ValueError: shapes that do not match, an unknown ``mode``, ``steps < 1``.
    """
    x = validate_model_inputs(model, x)
    attribution = check_maps(attribution)
    check_same_clip_grid(attribution, x)
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion'; got {mode!r}")
    steps = check_positive_int(steps, "steps")
    attribution = attribution.to(x.device)
    if baseline is None:
        sigma = default_blur_sigma(x) if blur_sigma is None else float(blur_sigma)
        if sigma < 0:
            raise ValueError(f"blur_sigma must be >= 0; got {sigma}")
        base = gaussian_blur_frames(x, sigma)
    else:
        if not isinstance(baseline, Tensor):
            raise TypeError(
                f"baseline must be a tensor broadcastable to x; got {describe(baseline)}"
            )
        try:
            base = torch.broadcast_to(baseline.to(x.device, x.dtype), x.shape)
        except RuntimeError as err:
            raise ValueError(
                f"baseline of shape {tuple(baseline.shape)} cannot be broadcast to x of shape {tuple(x.shape)}"
            ) from err

    b, _, t, h, w = x.shape
    n_vox = t * h * w
    ranks = rank_voxels(attribution, seed).view(b, 1, t, h, w)
    counts = torch.round(torch.linspace(0, n_vox, steps + 1, device=x.device)).long()
    start, end = (x, base) if mode == "deletion" else (base, x)

    def make_inputs(chunk: slice) -> tuple[Tensor, Tensor]:
        idx = torch.arange(chunk.start, chunk.stop, device=x.device)
        clip_index, step = idx // (steps + 1), idx % (steps + 1)
        changed = ranks[clip_index] < counts[step].view(-1, 1, 1, 1, 1)
        return torch.where(changed, end[clip_index], start[clip_index]), clip_index

    scores, _ = target_scores(model, x, target, b * (steps + 1), make_inputs, max_batch_size)
    scores = scores.view(b, steps + 1)
    fractions = counts.float() / n_vox
    auc = torch.trapezoid(scores, fractions, dim=1)
    return CurveResult(fractions=fractions, scores=scores, auc=auc, mode=mode)


def deletion(
    model: nn.Module,
    x: Tensor,
    attribution: Tensor,
    target: Target = None,
    *,
    steps: int = 20,
    baseline: Tensor | None = None,
    blur_sigma: float | None = None,
    max_batch_size: int | None = None,
    seed: int = 0,
) -> CurveResult:
    """Deletion curve: replace the most attributed voxels by the blurred clip first (lower AUC is better).

    Arguments as in [`voxel_curve`][videoattr.metrics.deletion_insertion.voxel_curve].

    Example:
        >>> result = deletion(model, x, saliency_maps, target=labels, steps=10)
        >>> result.scores.shape, result.auc.shape  # (B, 11) and (B,)
    """
    return voxel_curve(
        model,
        x,
        attribution,
        target,
        mode="deletion",
        steps=steps,
        baseline=baseline,
        blur_sigma=blur_sigma,
        max_batch_size=max_batch_size,
        seed=seed,
    )


def insertion(
    model: nn.Module,
    x: Tensor,
    attribution: Tensor,
    target: Target = None,
    *,
    steps: int = 20,
    baseline: Tensor | None = None,
    blur_sigma: float | None = None,
    max_batch_size: int | None = None,
    seed: int = 0,
) -> CurveResult:
    """Insertion curve: start from the blurred clip and restore the most attributed voxels first.

    Higher AUC is better. Arguments as in [`voxel_curve`][videoattr.metrics.deletion_insertion.voxel_curve].
    """
    return voxel_curve(
        model,
        x,
        attribution,
        target,
        mode="insertion",
        steps=steps,
        baseline=baseline,
        blur_sigma=blur_sigma,
        max_batch_size=max_batch_size,
        seed=seed,
    )
