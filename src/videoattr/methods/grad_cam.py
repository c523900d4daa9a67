"""Grad-CAM for 3-D (spatio-temporal) feature maps."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from videoattr.methods.cam import CAMContext, PooledCAM3D, pool_dims
from videoattr.methods.registry import register_method


class GradCAM3D(PooledCAM3D):
    """Grad-CAM (Selvaraju et al. 2017) on a layer with spatio-temporal activations ``(B, D, T', H', W')``.

    Channel weights are the target's gradient averaged over ``(H', W')`` for every time step
    (``weights="temporal"``, the reference implementation's choice) or over ``(T', H', W')`` (``"global"``, classic Grad-CAM);
    the map ``ReLU(sum_d w_d A_d)`` is resized to the clip's ``(T, H, W)`` by trilinear interpolation
    (no ``T % T' == 0`` needed). Gradients are taken with respect to the layer's output only: nothing
    before the layer is back-propagated, so a call costs about one forward plus a partial backward.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        layer: the layer to explain, a module or a dotted name (``"layer4"``, ``"blocks.4"``); names are
            also found through ``torch.compile`` (``_orig_mod.``) and ``DataParallel`` /
            ``DistributedDataParallel`` (``module.``) wrappers. [`config`][videoattr.methods.grad_cam.GradCAM3D.config] records the dotted name.
            A sequence of layers fuses their maps (see [`CAM3D`][videoattr.methods.cam.CAM3D]).
        weights: ``"temporal"`` (default) or ``"global"``.
        reshape: maps the layer's output to ``(B, D, T', H', W')``, e.g. transformer tokens ``(B, N, D)``
            (model adapters supply it). Default ``None``: the output must already be 5-D.
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip's ``(T, H, W)`` (default ``True``; ``False`` returns ``(B, 1, T', H', W')``).
        normalize: min-max normalise each clip's map to ``[0, 1]`` independently (default ``False``).
        max_batch_size: most clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18 at
            16 x 112 x 112: the backward pass starts at the layer); ``None``: all.
        eval_mode: run the model in eval mode during the call.

    Example:
        >>> cam = GradCAM3D(model, layer="layer4", normalize=True)
        >>> maps = cam.attribute(clip, target=3)   # (B, 1, T, H, W) in [0, 1]
    """

    method_name: ClassVar[str | None] = "grad_cam"

    def channel_weights(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """``w_d = mean(G_d)`` over ``(H', W')`` per time step, or over ``(T', H', W')``."""
        assert grad is not None
        return grad.mean(dim=pool_dims(self.weights), keepdim=True)


register_method(
    "grad_cam",
    GradCAM3D,
    aliases=("GradCAM3D", "GradCAM", "gradcam", "grad-cam", "gradcam3d", "grad_cam_3d", "cam"),
    kind="cam",
    summary="gradient-weighted activations of a layer, resized to the clip (Selvaraju et al. 2017)",
)
