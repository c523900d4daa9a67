"""Grad-CAM++ for 3-D (spatio-temporal) feature maps."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from videoattr.methods.cam import CAMContext, PooledCAM3D, pool_dims
from videoattr.methods.registry import register_method

#: Added to the denominator of ``alpha`` (the value pytorch-grad-cam uses).
EPS = 1e-6


class GradCAMPlusPlus3D(PooledCAM3D):
    """Grad-CAM++ (Chattopadhay et al., WACV 2018) on a layer with activations ``(B, D, T', H', W')``.

    Every position gets a coefficient from the first three derivatives of ``exp(S)``, which for a
    network that is piecewise linear after the layer are powers of ``G = dS/dA``:

        ``alpha = G^2 / (2 G^2 + sum_p A_p * G^3 + eps)`` (0 where ``G = 0``),
        ``w_d = sum_p alpha * ReLU(G)``,

    with the sums ``sum_p`` over ``(H', W')`` for every time step (``weights="temporal"``, default) or over
    ``(T', H', W')`` (``"global"``; on a 2-D layer both are the formula of the paper and of
    pytorch-grad-cam). The map is ``ReLU(sum_d w_d A_d)`` resized to the clip. Cost: one forward and a
    partial backward, as Grad-CAM.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        layer: the layer (or layers to fuse), a module or a dotted name.
        weights: ``"temporal"`` (default) or ``"global"``.
        reshape: layer output -> ``(B, D, T', H', W')`` (transformer tokens; default ``None``).
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip (default ``True``).
        normalize: per-clip min-max to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18 at
            16 x 112 x 112: the backward pass starts at the layer); ``None``: all.
        eval_mode: run the model in eval mode during the call.

    Example:
        >>> cam = GradCAMPlusPlus3D(model, layer="layer4", normalize=True)
        >>> maps = cam.attribute(clip, target=3)   # (B, 1, T, H, W) in [0, 1]
    """

    method_name: ClassVar[str | None] = "grad_cam_pp"

    def channel_weights(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """``w_d = sum_p alpha_p ReLU(G_p)`` per time step or over the volume."""
        assert grad is not None
        dims = pool_dims(self.weights)
        g2 = grad * grad
        g3 = g2 * grad
        alpha = g2 / (2 * g2 + act.sum(dim=dims, keepdim=True) * g3 + EPS)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        return (alpha * grad.clamp(min=0)).sum(dim=dims, keepdim=True)


register_method(
    "grad_cam_pp",
    GradCAMPlusPlus3D,
    aliases=(
        "GradCAMPlusPlus3D",
        "GradCAMPlusPlus",
        "GradCAM++",
        "grad-cam++",
        "gradcampp",
        "gradcamplusplus",
        "grad_cam_plus_plus",
    ),
    kind="cam",
    summary="Grad-CAM with positive gradients weighted per position (Chattopadhay et al. 2018)",
)
