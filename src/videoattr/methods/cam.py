"""The template of the CAM family on spatio-temporal layers: one pipeline, one overridable weighting.

A CAM method reads the activations ``A`` ``(N, D, T', H', W')`` of a layer (after the optional ``reshape``
of transformer tokens) and, for the gradient variants, the gradient ``G = dS/dA`` of the target score
``S``; it weights the channels and sums them:

    ``map = ReLU(sum_d w_d * A_d)``,

resized to the clip's ``(T, H, W)``. The variants differ only in
[`channel_weights`][videoattr.methods.cam.CAM3D.channel_weights], which returns ``w`` in a shape that
broadcasts against ``A``: one weight per channel ``(N, D, 1, 1, 1)``, per channel and time step
``(N, D, T', 1, 1)``, or per position ``(N, D, T', H', W')`` (LayerCAM).

Several layers are fused on request (``layer=["layer3", "layer4"]``): the map of every layer is computed
as above, resized to the clip, min-max normalised per clip to ``[0, 1]`` and the normalised maps are
averaged (the fusion of pytorch-grad-cam), so a layer with large activations does not drown the others.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.batching import chunk_slices
from videoattr.core.hooks import LayerSpec, Reshape, capture_layers, layer_name, resolve_layer
from videoattr.core.model_checks import require_grad_path
from videoattr.core.ops import normalize_per_clip, resize_to_clip
from videoattr.core.targets import ResolvedTarget, Target, fold_targets
from videoattr.core.validation import check_choice, describe
from videoattr.methods._memory import FORWARD_BATCH

__all__ = ["CAM3D", "CAMContext", "LayerSpecs", "PooledCAM3D", "Weighting", "pool_dims"]

#: How gradient-pooling variants pool over positions: per time step (``"temporal"``) or over the volume.
Weighting = Literal["temporal", "global"]
#: One layer, or several layers to fuse.
LayerSpecs = LayerSpec | Sequence[LayerSpec]


def pool_dims(weights: Weighting) -> tuple[int, ...]:
    """The position axes of a ``(N, D, T', H', W')`` volume a weighting pools over.

    ``"temporal"``: ``(H', W')`` (one weight per channel and time step); ``"global"``: ``(T', H', W')``.
    """
    return (3, 4) if weights == "temporal" else (2, 3, 4)


@dataclass(frozen=True)
class CAMContext:
    """What a [`channel_weights`][videoattr.methods.cam.CAM3D.channel_weights] call may need besides ``A`` and ``G``.

    Attributes:
        x: ``(N, C, T, H, W)`` the clips whose activations are weighted.
        clip_index: ``(N,)`` the index of each of these clips in the call's batch.
        target: the call's target; ``None`` (the top class) is resolved to class indices for these
            clips from their clean logits. Score rows with ``target.score(logits, clip_index)``.
        layer: the layer (as given) whose activations are weighted.
    """

    x: Tensor
    clip_index: Tensor
    target: ResolvedTarget
    layer: LayerSpec


def _at_least_float32(t: Tensor) -> Tensor:
    """``t`` in float32 when autocast (or the model) gave it in a half-precision dtype; else unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _resolve_top(target: ResolvedTarget, logits: Tensor, chunk: slice) -> ResolvedTarget:
    """``target``, with ``None`` (the top class) resolved for the clips of ``chunk`` from their logits.

    Forward-based weights score masked clips, whose own top class is not the clip's; the clean
    logits of the chunk give it without another forward.
    """
    if not target.needs_logits:
        return target
    top = torch.zeros(target.batch_size, dtype=torch.long, device=logits.device)
    top[chunk] = logits.detach().argmax(dim=1)
    return ResolvedTarget(target.batch_size, top, None, True)


def _layer_list(layer: object) -> tuple[LayerSpec, ...]:
    if isinstance(layer, (str, nn.Module)):
        return (layer,)
    if isinstance(layer, Sequence) and not isinstance(layer, (bytes, bytearray)):
        items = tuple(layer)
        if not items:
            raise ValueError("layer must name at least one layer; got an empty sequence")
        return items  # each item is checked by resolve_layer
    raise TypeError(
        f"layer must be a dotted module name, an nn.Module, or a sequence of them; got {describe(layer)}"
    )


class CAM3D(Attributor):
    """Template of the CAM family on spatio-temporal layers (subclass it and define `channel_weights`).

    Runs the model on the clips (in chunks of ``max_batch_size``), captures the activations of each
    layer, takes the target's gradient with respect to them (variants with ``uses_gradients = True``;
    nothing before the first layer is back-propagated), asks
    [`channel_weights`][videoattr.methods.cam.CAM3D.channel_weights] for the weights, and returns
    ``ReLU(sum_d w_d A_d)`` resized to the clip. Activations and gradients are promoted to float32 under
    autocast (the weights of Grad-CAM++ divide by sums that overflow or underflow in half precision), and
    kept in float64 for float64 models.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        layer: the layer to explain, a module or a dotted name (``"layer4"``, ``"blocks.4"``; names are
            also found through ``torch.compile`` and ``DataParallel`` wrappers), or a sequence of them to
            fuse (the mean of the per-layer maps, each resized to the clip and min-max normalised per
            clip). [`config`][videoattr.core.base.Attributor.config] records dotted names.
        reshape: maps a layer's output to ``(B, D, T', H', W')``, e.g. transformer tokens ``(B, N, D)``
            (model adapters supply it); applied to every layer. Default ``None``: outputs are 5-D already.
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip's ``(T, H, W)`` (default ``True``; ``False`` returns the layer's grid
            ``(B, 1, T', H', W')``, and several layers must then share one grid).
        normalize: min-max normalise each clip's map to ``[0, 1]`` independently (default ``False``).
        max_batch_size: most clips (Score-CAM: masked clips) in one forward. Default 16 (about
            1.7 GB on r2plus1d_18 at 16 x 112 x 112: the backward pass starts at the layer, so a
            forward keeps little more than one without gradients); ``None``: all.
        eval_mode: run the model in eval mode during the call.
    """

    #: Whether the variant needs ``G = dS/dA`` (Score-CAM does not).
    uses_gradients: ClassVar[bool] = True

    def __init__(
        self,
        model: nn.Module,
        layer: LayerSpecs,
        *,
        reshape: Reshape | None = None,
        relu: bool = True,
        resize: bool = True,
        normalize: bool = False,
        max_batch_size: int | None = FORWARD_BATCH,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, max_batch_size=max_batch_size, eval_mode=eval_mode)
        layers = _layer_list(layer)
        modules = [resolve_layer(model, spec) for spec in layers]
        if len({id(m) for m in modules}) != len(modules):
            names = [layer_name(model, spec) for spec in layers]
            raise ValueError(f"layer lists the same layer twice; got {names}")
        if reshape is not None and not callable(reshape):
            raise TypeError(f"reshape must be a callable or None; got {describe(reshape)}")
        self.layer = layer if isinstance(layer, (str, nn.Module)) else list(layers)
        self.layers: tuple[LayerSpec, ...] = layers
        self.reshape = reshape
        self.relu, self.resize, self.normalize = bool(relu), bool(resize), bool(normalize)

    # -- the record ----------------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The options, with the layer as its dotted name in the model (a list of names for several)."""
        out = super().options()
        names = [layer_name(self.model, spec) for spec in self.layers]
        out["layer"] = names[0] if isinstance(self.layer, (str, nn.Module)) else names
        return out

    def init_options(self) -> dict[str, Any]:
        """The options as the constructor takes them (the layer as given)."""
        return {**super().options(), "layer": self.layer}

    def replace(self, **overrides: Any) -> CAM3D:
        """A copy with some options replaced (validated like the constructor's)."""
        new = super().replace(**overrides)
        assert isinstance(new, CAM3D)
        return new

    # -- what a variant defines ----------------------------------------------------------------------------
    @abstractmethod
    def channel_weights(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """The weights ``w`` of ``map = sum_d w_d A_d``, broadcastable against ``act``.

        Args:
            act: ``(N, D, T', H', W')`` activations (float32 or float64, no graph).
            grad: ``(N, D, T', H', W')`` gradient of the target score with respect to ``act`` (``None``
                when ``uses_gradients`` is ``False``).
            context: the clips, their indices and the resolved target (for forward-based weights).

        Returns:
            ``(N, D, 1, 1, 1)``, ``(N, D, T', 1, 1)`` or ``(N, D, T', H', W')`` weights.
        """

    # -- the pipeline ----------------------------------------------------------------------------------------
    def attribute(self, x: Tensor, target: Target = None, **overrides: Any) -> Tensor:
        """Attribute ``target`` on clips ``x`` ``(B, C, T, H, W)``; returns ``(B, 1, T, H, W)``.

        Args:
            x: normalised clips.
            target: ``None`` (top class), an int, one int per clip, a callable ``logits -> (N,)``, or
                several targets per clip (a ``(B, K)`` tensor, ``"top3"``: ``(B, K, 1, T, H, W)`` maps).
            **overrides: any constructor option, for this call only (see
                [`Attributor`][videoattr.core.base.Attributor]).
        """
        x, tgt, multi = self.prepare_multi(x, target)
        if multi is not None:
            rows, indices, k = multi
            return fold_targets(self.attribute(rows, indices), k)
        assert tgt is not None
        size = (x.shape[2], x.shape[3], x.shape[4])
        per_layer: list[list[Tensor]] = [[] for _ in self.layers]
        with self.session():
            for chunk in chunk_slices(x.shape[0], self.max_batch_size):
                index = torch.arange(chunk.start, chunk.stop, device=x.device)
                grad_mode = nullcontext() if self.uses_gradients else torch.no_grad()
                with (
                    grad_mode,
                    capture_layers(
                        self.model, self.layers, as_leaf=self.uses_gradients
                    ) as captures,
                ):
                    logits = self.forward(x[chunk], index)
                acts = [c.output for c in captures]
                chunk_target = _resolve_top(tgt, logits, chunk)
                grads: Sequence[Tensor | None] = [None] * len(acts)
                if self.uses_gradients:
                    score = tgt.score(logits, index)
                    require_grad_path(score)
                    grads = torch.autograd.grad(score.sum(), acts, allow_unused=True)
                for i, (act, grad) in enumerate(zip(acts, grads, strict=True)):
                    spec = self.layers[i]
                    volume = _at_least_float32(self._as_volume(act.detach(), spec))
                    g = None
                    if self.uses_gradients:
                        if grad is None:
                            raise RuntimeError(
                                f"the target score does not depend on the output of layer "
                                f"{layer_name(self.model, spec)!r}; choose a layer on the path to the "
                                "logits"
                            )
                        g = _at_least_float32(self._as_volume(grad, spec)).to(volume.dtype)
                    context = CAMContext(x[chunk], index, chunk_target, spec)
                    per_layer[i].append(self.layer_map(volume, g, context))
        cam = self._fuse([torch.cat(maps) for maps in per_layer], size)
        if self.normalize:
            cam = normalize_per_clip(cam)
        return cam.detach().to(x.dtype)

    def layer_map(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """``ReLU(sum_d w_d A_d)`` ``(N, 1, T', H', W')`` of one layer (without ReLU when ``relu=False``)."""
        w = self.channel_weights(act, grad, context)
        cam = (w * act).sum(dim=1, keepdim=True)
        return F.relu(cam) if self.relu else cam

    def _fuse(self, maps: list[Tensor], size: tuple[int, int, int]) -> Tensor:
        if self.resize:
            maps = [resize_to_clip(m, size) for m in maps]
        if len(maps) == 1:
            return maps[0]
        grids = {tuple(m.shape[2:]) for m in maps}
        if len(grids) > 1:
            raise ValueError(
                f"resize=False needs layers with one (T', H', W') grid to fuse; got {sorted(grids)} for "
                f"layer {self.options()['layer']}"
            )
        return torch.stack([normalize_per_clip(m) for m in maps]).mean(dim=0)

    def _as_volume(self, t: Tensor, spec: LayerSpec) -> Tensor:
        out = self.reshape(t) if self.reshape is not None else t
        if out.dim() != 5:
            raise ValueError(
                f"layer {layer_name(self.model, spec)!r} must give (B, D, T', H', W') activations; got shape {tuple(out.shape)}. "
                "Pass reshape= to turn token or frame-batched outputs into 5-D volumes."
            )
        return out


class PooledCAM3D(CAM3D):
    """A [`CAM3D`][videoattr.methods.cam.CAM3D] whose weights pool over positions per time step or over the volume.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        layer: the layer (or layers to fuse), as for [`CAM3D`][videoattr.methods.cam.CAM3D].
        weights: ``"temporal"`` (default: one weight per channel and time step, pooled over ``(H', W')``)
            or ``"global"`` (one weight per channel, pooled over ``(T', H', W')``).
        reshape: layer output -> ``(B, D, T', H', W')`` (default ``None``).
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip (default ``True``).
        normalize: per-clip min-max to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips in one forward. Default 16 (about 1.7 GB on r2plus1d_18 at
            16 x 112 x 112: the backward pass starts at the layer); ``None``: all.
        eval_mode: run the model in eval mode during the call.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: LayerSpecs,
        *,
        weights: Weighting = "temporal",
        reshape: Reshape | None = None,
        relu: bool = True,
        resize: bool = True,
        normalize: bool = False,
        max_batch_size: int | None = FORWARD_BATCH,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(
            model,
            layer,
            reshape=reshape,
            relu=relu,
            resize=resize,
            normalize=normalize,
            max_batch_size=max_batch_size,
            eval_mode=eval_mode,
        )
        check_choice(weights, "weights", ("temporal", "global"))
        self.weights: Weighting = weights
