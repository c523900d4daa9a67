"""Where the mask parameters start: all ones (the reference) or a cheap saliency map of the clip.

The reference implementation (Li et al., WACV 2021) starts every mask parameter at 1 (nothing
perturbed) and lets the area term push all but a fraction ``a`` of them down over the run. A warm
start (``warm_start="gradient"``) places the mask near the evidence from the first iteration: one
forward and backward per clip give the gradient map ``|d log p(target) / d x|`` (summed over
channels), each parameter cell takes the mean of the map over its ``step x step`` pixels, and the
cells above the map's ``1 - a`` quantile start at 1, the others at their value divided by that
quantile (so a cell half as salient as the quantile starts at 0.5). The quantile is taken over each
mask's whole volume for 3D-EP and STEP, over each frame for 2D-EP (whose area is per frame).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from videoattr.core.batching import chunk_slices
from videoattr.core.targets import ResolvedTarget

__all__ = ["gradient_map", "warm_params"]


def gradient_map(
    forward: Callable[[Tensor], Tensor],
    x: Tensor,
    target: ResolvedTarget,
    max_batch_size: int | None = None,
) -> Tensor:
    """``(B, T, H, W)`` ``|d log p(target) / d x|`` summed over channels: one forward and backward.

    Args:
        forward: the model, ``(N, C, T, H, W) -> (N, K)`` logits.
        x: clips ``(B, C, T, H, W)``.
        target: the resolved target of the ``B`` clips.
        max_batch_size: the most clips per forward (``None``: all).
    """
    parts = []
    for chunk in chunk_slices(x.shape[0], max_batch_size):
        index = torch.arange(chunk.start, chunk.stop, device=x.device)
        with torch.enable_grad():
            xg = x[chunk].detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(target.log_prob(forward(xg), index).sum(), xg)
        parts.append(grad.abs().sum(dim=1))
    return torch.cat(parts)


def warm_params(
    saliency: Tensor,
    grid_shape: tuple[int, int],
    areas: Sequence[float],
    clip_index: Tensor,
    area_index: Tensor,
    per_frame: bool,
) -> Tensor:
    """``(N, T, h, w)`` starting parameters in ``[0, 1]`` of the ``N`` rows (clip x area).

    Args:
        saliency: ``(B, T, H, W)`` non-negative map of every clip.
        grid_shape: ``(h, w)``, the mask generator's parameter grid.
        areas: the ``A`` areas.
        clip_index: ``(N,)`` the clip of every row.
        area_index: ``(N,)`` the area of every row.
        per_frame: quantiles per frame (2D-EP) rather than per mask volume.

    Example:
        >>> s = torch.zeros(1, 2, 14, 14)
        >>> s[0, 0, :7, :7] = 1.0
        >>> p = warm_params(s, (2, 2), [0.125], torch.tensor([0]), torch.tensor([0]), False)
        >>> p[0, 0].tolist(), p[0, 1].tolist()
        ([[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]])
    """
    b, t, _, _ = saliency.shape
    cells = F.adaptive_avg_pool2d(
        saliency.to(torch.promote_types(saliency.dtype, torch.float32)).reshape(
            b * t, 1, *saliency.shape[-2:]
        ),
        grid_shape,
    )
    cells = cells.view(b, t, *grid_shape)[clip_index]  # (N, T, h, w)
    n = cells.shape[0]
    values = cells.reshape(n, t, -1) if per_frame else cells.reshape(n, 1, -1)
    area = torch.tensor([float(a) for a in areas], device=cells.device)[area_index]
    quantile = torch.stack(
        [torch.quantile(values[i], 1 - float(area[i]), dim=-1, keepdim=True) for i in range(n)]
    )
    tiny = torch.finfo(values.dtype).tiny
    params = (values / quantile.clamp_min(tiny)).clamp(0, 1)
    return params.reshape(n, t, *grid_shape).to(saliency.dtype)
