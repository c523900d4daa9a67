"""LayerCAM for 3-D (spatio-temporal) feature maps."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from videoattr.methods.cam import CAM3D, CAMContext
from videoattr.methods.registry import register_method


class LayerCAM3D(CAM3D):
    """LayerCAM (Jiang et al., IEEE TIP 2021) on a layer with activations ``(B, D, T', H', W')``.

    Every position keeps its own weight, the positive part of its gradient:

        ``map = ReLU(sum_d ReLU(G_d) * A_d)``,

    resized to the clip. Nothing is pooled, so there is no ``weights`` option: the map keeps the layer's
    full ``(T', H', W')`` detail, which makes LayerCAM usable on earlier, finer layers where Grad-CAM's
    pooled weights blur, and a natural choice for fusing several layers (``layer=["layer3", "layer4"]``).
    Cost: as Grad-CAM.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        layer: the layer (or layers to fuse), a module or a dotted name.
        reshape: layer output -> ``(B, D, T', H', W')`` (transformer tokens; default ``None``).
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip (default ``True``).
        normalize: per-clip min-max to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18 at
            16 x 112 x 112: the backward pass starts at the layer); ``None``: all.
        eval_mode: run the model in eval mode during the call.

    Example:
        >>> cam = LayerCAM3D(model, layer=["layer3", "layer4"], normalize=True)
        >>> maps = cam.attribute(clip, target=3)   # (B, 1, T, H, W) in [0, 1]
    """

    method_name: ClassVar[str | None] = "layer_cam"

    def channel_weights(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """``ReLU(G)``, one weight per position."""
        assert grad is not None
        return grad.clamp(min=0)


register_method(
    "layer_cam",
    LayerCAM3D,
    aliases=("LayerCAM3D", "LayerCAM", "layercam", "layer-cam"),
    kind="cam",
    summary="activations weighted by their positive gradient, position by position (Jiang et al. 2021)",
)
