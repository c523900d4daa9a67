"""Grad-CAM for 3-D (spatio-temporal) feature maps."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoattr.core.base import Attributor, require_grad_path
from videoattr.core.batching import chunk_slices
from videoattr.core.hooks import LayerSpec, Reshape, capture_layer, layer_name, resolve_layer
from videoattr.core.ops import normalize_per_clip, resize_to_clip
from videoattr.core.targets import Target, fold_targets
from videoattr.core.validation import check_choice, describe
from videoattr.methods.registry import register_method

Weighting = Literal["temporal", "global"]


class GradCAM3D(Attributor):
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
        weights: ``"temporal"`` (default) or ``"global"``.
        reshape: maps the layer's output to ``(B, D, T', H', W')``, e.g. transformer tokens ``(B, N, D)``
            (model adapters supply it). Default ``None``: the output must already be 5-D.
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip's ``(T, H, W)`` (default ``True``; ``False`` returns ``(B, 1, T', H', W')``).
        normalize: min-max normalise each clip's map to ``[0, 1]`` independently (default ``False``).
        max_batch_size: most clips in one forward (``None``: all).
        eval_mode: run the model in eval mode during the call.

    Example:
        >>> cam = GradCAM3D(model, layer="layer4", normalize=True)
        >>> maps = cam.attribute(clip, target=3)   # (B, 1, T, H, W) in [0, 1]
    """

    method_name: ClassVar[str | None] = "grad_cam"

    def __init__(
        self,
        model: nn.Module,
        layer: LayerSpec,
        *,
        weights: Weighting = "temporal",
        reshape: Reshape | None = None,
        relu: bool = True,
        resize: bool = True,
        normalize: bool = False,
        max_batch_size: int | None = None,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        resolve_layer(model, layer)
        check_choice(weights, "weights", ("temporal", "global"))
        if reshape is not None and not callable(reshape):
            raise TypeError(f"reshape must be a callable or None; got {describe(reshape)}")
        self.layer = layer
        self.weights: Weighting = weights
        self.reshape = reshape
        self.relu, self.resize, self.normalize = bool(relu), bool(resize), bool(normalize)

    def options(self) -> dict[str, Any]:
        """The options, with the layer as its dotted name in the model."""
        return {"layer": layer_name(self.model, self.layer), **self._own_options()}

    def init_options(self) -> dict[str, Any]:
        """The options as the constructor takes them (the layer as given)."""
        return {"layer": self.layer, **self._own_options()}

    def _own_options(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "reshape": self.reshape,
            "relu": self.relu,
            "resize": self.resize,
            "normalize": self.normalize,
            "max_batch_size": self.max_batch_size,
            "eval_mode": self.eval_mode,
        }

    def replace(self, **overrides: Any) -> GradCAM3D:
        """A copy with some options replaced."""
        if not overrides:
            return self
        kwargs = {**self.init_options(), **overrides}
        return GradCAM3D(self.model, **kwargs)

    def attribute(self, x: Tensor, target: Target = None, **overrides: Any) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class), an int, one int per clip, a callable ``logits -> (N,)``, or
                several targets per clip (a ``(B, K)`` tensor, ``"top3"``: ``(B, K, 1, T, H, W)`` maps).
            **overrides: constructor options replaced for this call (e.g. ``weights="global"``).
        """
        if overrides:
            return self.replace(**overrides).attribute(x, target)
        x, tgt, multi = self.prepare_multi(x, target)
        if multi is not None:
            rows, indices, k = multi
            return fold_targets(self.attribute(rows, indices), k)
        assert tgt is not None
        maps: list[Tensor] = []
        with self.session():
            for chunk in chunk_slices(x.shape[0], self.max_batch_size):
                index = torch.arange(chunk.start, chunk.stop, device=x.device)
                with capture_layer(self.model, self.layer, as_leaf=True) as capture:
                    logits = self.forward(x[chunk], index)
                score = tgt.score(logits, index)
                require_grad_path(score)
                act = capture.output
                (grad,) = torch.autograd.grad(score.sum(), act)
                # float32 maths whatever autocast chose for the layer (bfloat16/float16 activations)
                maps.append(
                    self._cam(self._as_volume(act.detach()).float(), self._as_volume(grad).float())
                )
        cam = torch.cat(maps)
        if self.resize:
            cam = resize_to_clip(cam, (x.shape[2], x.shape[3], x.shape[4]))
        if self.normalize:
            cam = normalize_per_clip(cam)
        return cam.detach().to(x.dtype)

    def _as_volume(self, t: Tensor) -> Tensor:
        out = self.reshape(t) if self.reshape is not None else t
        if out.dim() != 5:
            raise ValueError(
                f"layer {self.layer!r} must give (B, D, T', H', W') activations; got shape {tuple(out.shape)}. "
                "Pass reshape= to turn token or frame-batched outputs into 5-D volumes."
            )
        return out

    def _cam(self, act: Tensor, grad: Tensor) -> Tensor:
        dims = (3, 4) if self.weights == "temporal" else (2, 3, 4)
        w = grad.mean(dim=dims, keepdim=True)
        cam = (w * act).sum(dim=1, keepdim=True)
        return F.relu(cam) if self.relu else cam


register_method(
    "grad_cam",
    GradCAM3D,
    aliases=("GradCAM3D", "GradCAM", "gradcam", "grad-cam", "gradcam3d", "grad_cam_3d", "cam"),
    kind="cam",
    summary="gradient-weighted activations of a layer, resized to the clip (Selvaraju et al. 2017)",
)
