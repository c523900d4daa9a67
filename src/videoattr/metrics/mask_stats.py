"""Statistics of perturbation masks: achieved area and what the preserved and deleted clips score.

A mask ``m`` in ``[0, 1]`` of shape ``(B, A, T, H, W)`` (one channel per requested area) perturbs the clip
the way the extremal perturbation engine does (``perturbation="pyramid"``, the default): the *preserved*
clip is the blur pyramid ([`Perturbation`][videoattr.core.pyramid.Perturbation]) applied with
``m``, the *deleted* clip the pyramid applied with ``1 - m``, so "preserved probability" means the same
number here and in a [`PerturbationResult`][videoattr.methods.extremal.optimize.PerturbationResult].
``perturbation="blend"`` uses the linear blend ``m * x + (1 - m) * blur(x)`` with one blurred clip instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from videoattr.core.ops import gaussian_blur_frames
from videoattr.core.pyramid import Perturbation
from videoattr.core.targets import Target
from videoattr.core.validation import check_choice
from videoattr.metrics._common import (
    check_maps,
    check_same_clip_grid,
    default_blur_sigma,
    target_scores,
    validate_model_inputs,
)

__all__ = ["MaskScores", "achieved_area", "mask_scores"]


def achieved_area(masks: Tensor, *, per_frame: bool = False) -> Tensor:
    """Mean mask value: ``(B, A, T, H, W)`` -> ``(B, A)``, or ``(B, A, T)`` with ``per_frame=True``.

    For a binary mask this is the share of the clip (or frame) that is preserved; compare it with the
    requested areas.

    Raises:
        ValueError: masks outside ``[0, 1]`` or of the wrong rank.
    """
    masks = check_maps(masks, name="masks")
    if bool((masks < 0).any()) or bool((masks > 1).any()):
        raise ValueError("masks must hold values in [0, 1]")
    if per_frame:
        return masks.flatten(3).mean(3)
    return masks.flatten(2).mean(2)


@dataclass(frozen=True)
class MaskScores:
    """Target scores of clips perturbed by masks.

    Attributes:
        clean: ``(B,)`` target probability of the unperturbed clips.
        preserved: ``(B, A)`` target probability of the preserved clip (the mask kept, the rest blurred).
        deleted: ``(B, A)`` target probability of the deleted clip (the mask blurred, the rest kept).
        area: ``(B, A)`` achieved area (mean mask value).
    """

    clean: Tensor
    preserved: Tensor
    deleted: Tensor
    area: Tensor


def mask_scores(
    model: nn.Module,
    x: Tensor,
    masks: Tensor,
    target: Target = None,
    *,
    perturbation: Literal["pyramid", "blend"] = "pyramid",
    max_blur: float = 20.0,
    num_levels: int = 8,
    blur_sigma: float | None = None,
    max_batch_size: int | None = None,
) -> MaskScores:
    """Score the preserved and deleted clips of perturbation masks.

    Args:
        model: the classifier, ``(N, C, T, H, W) -> (N, K)``.
        x: clips ``(B, C, T, H, W)``.
        masks: ``(B, A, T, H, W)`` masks in ``[0, 1]``.
        target: any target form; ``None`` is each clip's top class on the clean clip. Scores are softmax
            probabilities of the target (a callable target's score as is).
        perturbation: ``"pyramid"`` (default: the extremal perturbation engine's blur pyramid, so the
            scores equal the engine's preserved and deleted probabilities) or ``"blend"`` (a linear blend
            with one blurred clip).
        max_blur: strongest blur of the pyramid in px. Default 20 (the engine's default).
        num_levels: pyramid levels. Default 8 (the engine's default).
        blur_sigma: ``"blend"`` only: std in px of the blurred clip; default ``20 * min(H, W) / 112``.
        max_batch_size: the most clips in one forward; ``None`` for all ``B * (1 + 2A)`` at once.

    Returns:
        A [`MaskScores`][videoattr.metrics.mask_stats.MaskScores].
    """
    x = validate_model_inputs(model, x)
    area = achieved_area(masks)
    masks = check_maps(masks, name="masks").to(x.device)
    check_same_clip_grid(masks, x, name="masks")
    check_choice(perturbation, "perturbation", ("pyramid", "blend"))
    b, a = masks.shape[:2]
    per_clip = 1 + 2 * a
    if perturbation == "pyramid":
        pyramid = Perturbation(x, num_levels=num_levels, max_blur=max_blur)
    else:
        sigma = default_blur_sigma(x) if blur_sigma is None else float(blur_sigma)
        blurred = gaussian_blur_frames(x, sigma)

    def make_inputs(chunk: slice) -> tuple[Tensor, Tensor]:
        idx = torch.arange(chunk.start, chunk.stop, device=x.device)
        clip_index, kind = idx // per_clip, idx % per_clip
        area_index = ((kind - 1) % a).clamp(min=0)
        m = masks[clip_index, area_index].unsqueeze(1)
        keep = torch.where((kind == 0).view(-1, 1, 1, 1, 1), torch.ones_like(m), m)
        keep = torch.where((kind > a).view(-1, 1, 1, 1, 1), 1 - m, keep)
        if perturbation == "pyramid":
            return pyramid.apply(keep, clip_index), clip_index
        return keep * x[clip_index] + (1 - keep) * blurred[clip_index], clip_index

    scores, _ = target_scores(model, x, target, b * per_clip, make_inputs, max_batch_size)
    scores = scores.view(b, per_clip)
    return MaskScores(
        clean=scores[:, 0],
        preserved=scores[:, 1 : 1 + a],
        deleted=scores[:, 1 + a :],
        area=area.to(x.device),
    )
