"""XGrad-CAM for 3-D (spatio-temporal) feature maps."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from videoattr.methods.cam import CAMContext, PooledCAM3D, pool_dims
from videoattr.methods.registry import register_method

#: Added to the sum of the activations (the value pytorch-grad-cam uses).
EPS = 1e-7


class XGradCAM3D(PooledCAM3D):
    """XGrad-CAM (Fu et al., BMVC 2020) on a layer with activations ``(B, D, T', H', W')``.

    Each channel's gradient is averaged with the channel's own activations as weights:

        ``w_d = sum_p G_p A_p / (sum_p A_p + eps)``,

    the sums over ``(H', W')`` for every time step (``weights="temporal"``, default) or over
    ``(T', H', W')`` (``"global"``, the paper's formula on a 2-D layer). The map is
    ``ReLU(sum_d w_d A_d)`` resized to the clip. Cost: as Grad-CAM.

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
        >>> cam = XGradCAM3D(model, layer="layer4", normalize=True)
        >>> maps = cam.attribute(clip, target=3)   # (B, 1, T, H, W) in [0, 1]
    """

    method_name: ClassVar[str | None] = "xgrad_cam"

    def channel_weights(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """``w_d = sum_p G_p A_p / (sum_p A_p + eps)`` per time step or over the volume."""
        assert grad is not None
        dims = pool_dims(self.weights)
        return (grad * act).sum(dim=dims, keepdim=True) / (act.sum(dim=dims, keepdim=True) + EPS)


register_method(
    "xgrad_cam",
    XGradCAM3D,
    aliases=("XGradCAM3D", "XGradCAM", "xgradcam", "xgrad-cam", "x_grad_cam"),
    kind="cam",
    summary="activation-weighted average gradient per channel (Fu et al. 2020)",
)
