"""Validation and small helpers shared by the metrics."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from videoattr.core.batching import score_all
from videoattr.core.model_checks import check_logits
from videoattr.core.state import model_session
from videoattr.core.targets import ResolvedTarget, Target, resolve_target
from videoattr.core.validation import check_clip, check_optional_batch_size, describe


def check_maps(maps: object, name: str = "attribution") -> Tensor:
    """Validate an attribution map or mask batch ``(B, 1|A, T, H, W)`` and return it as float.

    Raises:
        TypeError: not a tensor.
        ValueError: not 5-D, an empty dimension, or non-finite values.
    """
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name} must be a tensor of shape (B, 1|A, T, H, W); got {describe(maps)}")
    if maps.dim() != 5:
        raise ValueError(
            f"{name} must have shape (B, 1|A, T, H, W) (5 dimensions); got shape {tuple(maps.shape)}"
        )
    if any(s == 0 for s in maps.shape):
        raise ValueError(f"{name} must not have an empty dimension; got shape {tuple(maps.shape)}")
    if maps.dtype == torch.bool or not maps.is_floating_point():
        maps = maps.float()
    if not bool(torch.isfinite(maps).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return maps


def combine_channels(maps: Tensor) -> Tensor:
    """Sum the ``A`` channels of ``(B, A, T, H, W)`` maps into one ``(B, 1, T, H, W)`` ranking map.

    For perturbation masks at several areas the sum ranks the voxels kept at the smallest area highest,
    which breaks most of the ties of a single flat mask. ``A = 1`` returns ``maps`` unchanged.
    """
    return maps if maps.shape[1] == 1 else maps.sum(dim=1, keepdim=True)


def check_ground_truth(gt: object, maps: Tensor, name: str = "ground_truth") -> Tensor:
    """Validate a ground-truth mask against ``(B, A, T, H, W)`` maps; return it as ``(B, T, H, W)`` bool.

    Accepts ``(B, 1, T, H, W)`` or ``(B, T, H, W)`` tensors, bool or with values in ``{0, 1}``; the
    result lives on ``maps``' device.
    """
    if not isinstance(gt, Tensor):
        raise TypeError(f"{name} must be a (B, 1, T, H, W) bool tensor; got {describe(gt)}")
    b, _, t, h, w = maps.shape
    if gt.dim() == 5 and gt.shape[1] == 1:
        gt = gt[:, 0]
    if gt.dim() != 4 or tuple(gt.shape) != (b, t, h, w):
        raise ValueError(
            f"{name} must have shape ({b}, 1, {t}, {h}, {w}) to match the attribution of shape "
            f"{tuple(maps.shape)}; got shape {tuple(gt.shape)}"
        )
    if gt.dtype != torch.bool:
        if bool(((gt != 0) & (gt != 1)).any()):
            raise ValueError(f"{name} must be boolean or hold only 0 and 1")
        gt = gt != 0
    return gt.to(maps.device)


def check_same_clip_grid(maps: Tensor, x: Tensor, name: str = "attribution") -> None:
    """Raise if ``maps`` ``(B, A, T, H, W)`` does not match clips ``x`` ``(B, C, T, H, W)``."""
    if maps.shape[0] != x.shape[0] or maps.shape[2:] != x.shape[2:]:
        raise ValueError(
            f"{name} of shape {tuple(maps.shape)} does not match the clips of shape {tuple(x.shape)}: "
            "expected (B, 1|A, T, H, W) with the clips' B, T, H and W"
        )


def check_fraction(value: object, name: str, *, closed: bool = False) -> float:
    """Return ``value`` as a float in ``(0, 1)`` (``(0, 1]`` with ``closed=True``), else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a float in (0, 1{']' if closed else ')'}; got {describe(value)}"
        )
    v = float(value)
    if not (0.0 < v < 1.0 or (closed and v == 1.0)):
        raise ValueError(f"{name} must lie in (0, 1{']' if closed else ')'}; got {v}")
    return v


def default_blur_sigma(x: Tensor) -> float:
    """The blur of the deleted/inserted baseline: std 20 px at 112 px, scaled with the frame size."""
    return 20.0 * min(x.shape[3], x.shape[4]) / 112.0


def pick_peak_nd(values: Tensor, grid: tuple[int, ...]) -> Tensor:
    """Flat index of the maximum of each row of ``(N, 1, M)`` values laid out on ``grid`` (``prod = M``).

    When several entries share the maximum (the flat plateau of a perturbation mask), the tied entry
    closest (in Euclidean distance on ``grid``) to the centroid of all tied entries wins; remaining ties go
    to the lowest flat index. Deterministic, and always a point of the plateau.

    Returns:
        ``(N,)`` long flat indices.
    """
    flat = values.flatten(1)
    m = flat.shape[1]
    top = flat.max(dim=1, keepdim=True).values
    tied = flat == top
    coords = torch.stack(
        torch.meshgrid(
            *[torch.arange(s, device=flat.device, dtype=flat.dtype) for s in grid], indexing="ij"
        ),
        dim=-1,
    ).reshape(m, len(grid))
    weight = tied.to(flat.dtype)
    centroid = (weight @ coords) / weight.sum(dim=1, keepdim=True)
    dist = ((coords.unsqueeze(0) - centroid.unsqueeze(1)) ** 2).sum(-1)
    dist = torch.where(tied, dist, torch.full_like(dist, float("inf")))
    return dist.argmin(dim=1)


def target_scores(
    model: nn.Module,
    x: Tensor,
    target: Target,
    n_samples: int,
    make_inputs: Callable[[slice], tuple[Tensor, Tensor]],
    max_batch_size: int | None,
) -> tuple[Tensor, ResolvedTarget]:
    """Target probabilities of ``n_samples`` derived inputs, evaluated in bounded gradient-free batches.

    Args:
        model: the classifier, ``(N, C, T, H, W) -> (N, K)``.
        x: the clean clips ``(B, C, T, H, W)`` (used to resolve ``target=None`` to the top class).
        target: any accepted target form.
        n_samples: total number of derived inputs.
        make_inputs: maps a slice of ``range(n_samples)`` to ``(inputs, clip_index)``.
        max_batch_size: the most inputs in one forward; ``None`` for all at once.

    Returns:
        ``((n_samples,) scores, resolved target)``: the softmax probability of the target class, or the
        callable's score for callable targets.
    """
    max_batch_size = check_optional_batch_size(max_batch_size)
    resolved = resolve_target(target, x.shape[0], x.device)
    with model_session(model):
        if resolved.fn is None:
            with torch.no_grad():
                resolved = resolved.with_logits(check_logits(model(x), x.shape[0]))
        chosen = resolved

        def forward(inputs: Tensor, _clip_index: Tensor) -> Tensor:
            return check_logits(model(inputs), inputs.shape[0])

        def score(logits: Tensor, clip_index: Tensor) -> Tensor:
            if chosen.fn is None:
                logits = torch.softmax(logits.float(), dim=1)
            return chosen.score(logits, clip_index).float()

        scores = score_all(n_samples, make_inputs, forward, score, max_batch_size)
    return scores, resolved


def validate_model_inputs(model: object, x: object) -> Tensor:
    """Check the model type and the clip batch shared by the model-based metrics."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
    return check_clip(x, "x")
