"""The model adapter: a video classifier with everything an attribution needs to know about it.

A [`VideoAdapter`][videoattr.zoo.VideoAdapter] is an ``nn.Module`` that takes normalised clips ``(B, C, T, H, W)`` and
returns ``(B, K)`` logits, whatever layout and output type the wrapped network uses, and carries
what an attribution needs to know about the model: clip length, input size, mean/std, frame
sampling, preprocessing, class names and the default Grad-CAM layer with its reshape.
[`wrap`][videoattr.zoo.wrap] adapts a user's own network.

Models wrapped by ``torch.compile`` (``_orig_mod.``), ``DataParallel`` or
``DistributedDataParallel`` (``module.``) are accepted: layer names given without the wrapper's
prefix are found through it ([`find_layer_name`][videoattr.zoo.find_layer_name]).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from videoattr.core.attention import AttentionLayout
from videoattr.core.hooks import Reshape, match_layer_name, resolve_layer
from videoattr.core.validation import check_choice, describe
from videoattr.io.preprocessing import denormalize
from videoattr.zoo.preprocessing import Frames, Preprocessing
from videoattr.zoo.sampling import FrameSampling, ModelSampling
from videoattr.zoo.tokens import TokenGrid

__all__ = [
    "LAYOUTS",
    "Layout",
    "OutputFn",
    "VideoAdapter",
    "default_output",
    "wrap",
]

Layout = Literal["BCTHW", "BTCHW", "(BT)CHW"]
LAYOUTS: tuple[str, ...] = ("BCTHW", "BTCHW", "(BT)CHW")
OutputFn = Callable[[Any], Tensor]


def _as_triple(values: Sequence[float], name: str) -> tuple[float, float, float]:
    vals = tuple(float(v) for v in values)
    if len(vals) != 3:
        raise ValueError(f"{name} must have 3 values (one per RGB channel); got {len(vals)}")
    if name == "std" and any(v <= 0 for v in vals):
        raise ValueError(f"std must be positive; got {vals}")
    return (vals[0], vals[1], vals[2])


def _as_size(size: int | Sequence[int], name: str = "size") -> tuple[int, int]:
    if isinstance(size, bool):
        raise ValueError(f"{name} must be an int or (H, W) of positive ints; got {size!r}")
    if isinstance(size, int):
        return (size, size)
    vals = tuple(size)
    if len(vals) != 2 or not all(isinstance(v, int) and v > 0 for v in vals):
        raise ValueError(f"{name} must be an int or (H, W) of positive ints; got {size!r}")
    return (int(vals[0]), int(vals[1]))


def default_output(out: Any) -> Tensor:
    """Logits from a model output: a tensor, an object with ``.logits`` or a tuple starting with one."""
    if isinstance(out, Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(out, Mapping) and isinstance(out.get("logits"), Tensor):
        return out["logits"]  # type: ignore[no-any-return]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    raise TypeError(f"cannot find logits in the model output {describe(out)}; pass output=callable")


class VideoAdapter(nn.Module):
    """A video classifier with everything an attribution needs to know about it.

    ``adapter(x)`` maps normalised clips ``(B, C, T, H, W)`` to ``(B, K)`` logits, so every attributor
    accepts it directly. It converts to the wrapped model's layout (``"BTCHW"`` for Hugging Face video
    transformers, ``"(BT)CHW"`` for frame-wise 2-D networks like TSM, whose per-frame logits
    ``(B*T, K)`` are averaged over frames) and extracts the logits from tuples or ``ModelOutput``s.

    Args:
        model: the wrapped network, stored as ``self.model``.
        clip_len: native number of frames ``T``.
        size: native input size ``(H, W)`` (an int for square inputs).
        mean: per-channel RGB mean of the normalisation (inputs in ``[0, 1]``).
        std: per-channel RGB standard deviation of the normalisation.
        layer: default Grad-CAM layer, a dotted name relative to the adapter (``"model.layer4"``), or
            ``None`` when the architecture has no sensible one.
        layout: the layout ``model`` expects: ``"BCTHW"`` (default), ``"BTCHW"`` or ``"(BT)CHW"``.
        tokens: how the default layer's tokens map onto a grid (transformers); ``None`` for CNNs.
        resize: resize before the centre crop in `preprocess`: ``(s,)`` for the shorter side or
            ``(h, w)``; default: shorter side ``round(size * 256 / 224)``.
        sampling: ``"strided"`` (default) or ``"segments"`` (see [`FrameSampling`][videoattr.zoo.FrameSampling]);
            ``"stride"`` is a deprecated alias of ``"strided"``.
        class_names: the ``K`` class names, or ``None``.
        output: callable extracting the ``(B, K)`` logits from the model output; default
            [`default_output`][videoattr.zoo.default_output].
        name: a short name for ``repr`` and error messages.
        antialias: antialiased resize in `preprocess` (torchvision's video presets: ``False``).
        attention_layout: where a transformer computes its attention (taps relative to the adapter,
            ``"model. ..."``) and the grid of its tokens, for the attention methods; ``None`` for
            models without one (see [`attention_layout`][videoattr.zoo.attention.attention_layout]).

    Example:
        >>> net = nn.Sequential(nn.Conv3d(3, 8, 3), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 4))
        >>> adapter = VideoAdapter(net, clip_len=16, size=112, mean=(0.43, 0.39, 0.37),
        ...                        std=(0.22, 0.22, 0.21), layer="model.0")
        >>> clip = adapter.preprocess(np.zeros((16, 128, 171, 3), np.uint8))
        >>> clip.shape, adapter(clip).shape
        (torch.Size([1, 3, 16, 112, 112]), torch.Size([1, 4]))
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        clip_len: int,
        size: int | Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        layer: str | None,
        layout: Layout = "BCTHW",
        tokens: TokenGrid | None = None,
        resize: int | Sequence[int] | None = None,
        sampling: ModelSampling = "strided",
        class_names: Sequence[str] | None = None,
        output: OutputFn | None = None,
        name: str = "custom",
        antialias: bool = False,
        attention_layout: AttentionLayout | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
        check_choice(layout, "layout", LAYOUTS)
        if isinstance(clip_len, bool) or not isinstance(clip_len, int) or clip_len < 1:
            raise ValueError(f"clip_len must be a positive int; got {clip_len!r}")
        self.model = model
        self.name = name
        self.clip_len = clip_len
        self.size = _as_size(size)
        self.mean = _as_triple(mean, "mean")
        self.std = _as_triple(std, "std")
        self.layout: Layout = layout
        self.tokens = tokens
        self.sampling = FrameSampling(sampling, clip_len)
        self.class_names: list[str] | None = list(class_names) if class_names is not None else None
        self.output_fn: OutputFn = output if output is not None else default_output
        if resize is None:
            resize_t: tuple[int] | tuple[int, int] = (round(min(self.size) * 256 / 224),)
        elif isinstance(resize, int):
            resize_t = (resize,)
        else:
            r = tuple(int(v) for v in resize)
            resize_t = (r[0],) if len(r) == 1 else (r[0], r[1])
        self.preprocessing = Preprocessing(resize_t, self.size, self.mean, self.std, antialias)
        self._last_thw: tuple[int, int, int] = (clip_len, *self.size)
        if layer is not None:
            layer = match_layer_name(self, layer) or layer  # seen through compile/DDP wrappers
            resolve_layer(self, layer)
        self.layer = layer
        if attention_layout is not None and not isinstance(attention_layout, AttentionLayout):
            raise TypeError(
                f"attention_layout must be an AttentionLayout or None; got {describe(attention_layout)}"
            )
        self.attention_layout = attention_layout

    # -- forward ----------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, K)`` of normalised clips ``x`` of shape ``(B, C, T, H, W)``."""
        if x.dim() != 5:
            raise ValueError(
                f"{self.name} adapter expects clips (B, C, T, H, W); got shape {tuple(x.shape)}"
            )
        b, c, t, h, w = x.shape
        self._last_thw = (t, h, w)
        if self.layout == "BCTHW":
            out = self.model(x)
        elif self.layout == "BTCHW":
            out = self.model(x.permute(0, 2, 1, 3, 4))
        else:
            out = self.model(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        logits = self.output_fn(out)
        if self.layout == "(BT)CHW" and logits.dim() == 2 and logits.shape[0] == b * t and t > 1:
            logits = logits.reshape(b, t, -1).mean(dim=1)
        return logits

    # -- Grad-CAM support -------------------------------------------------------------------------------
    @property
    def reshape(self) -> Reshape | None:
        """Map the default layer's output to ``(B, D, T', H', W')``, or ``None`` if it is already that.

        Uses the ``(T, H, W)`` of the adapter's most recent forward, so call it (as Grad-CAM does) on
        the output of the forward that just ran.
        """
        if self.tokens is not None:
            return self._tokens_to_volume
        if self.layout == "(BT)CHW":
            return self._frames_to_volume
        return None

    def _tokens_to_volume(self, out: Tensor) -> Tensor:
        assert self.tokens is not None
        return self.tokens.to_volume(out, self._last_thw)

    def _frames_to_volume(self, out: Tensor) -> Tensor:
        t = self._last_thw[0]
        if out.dim() != 4 or out.shape[0] % t:
            raise ValueError(
                f"expected a (B*T, D, H', W') frame-wise layer output with T = {t}; got {tuple(out.shape)}"
            )
        return out.reshape(-1, t, *out.shape[1:]).transpose(1, 2)

    # -- input side ------------------------------------------------------------------------------------
    def preprocess(self, frames: Frames, *, sample: bool = False) -> Tensor:
        """uint8 RGB frames ``(N, H, W, 3)`` to a normalised clip ``(1, 3, T, h, w)`` on the model's device.

        Args:
            frames: the video's frames, channels last, uint8 in ``0..255`` (or float in ``[0, 1]``).
            sample: first pick `clip_len` frames with `sampling` (``T = clip_len``);
                ``False`` (default) keeps all ``N`` frames (``T = N``).

        Returns:
            The clip `preprocessing` makes ([`to_clip`][videoattr.io.to_clip] with this model's
            resize, crop, mean/std and antialias setting).

        Raises:
            VideoTooShortError: ``sample`` with fewer than `clip_len` frames (a ``ValueError``).
            TypeError: frames that are neither uint8 nor floating point.
            ValueError: frames of another shape than ``(N, H, W, 3)``.
        """
        if sample:
            n = len(frames)
            idx = self.sampling.indices(n)
            frames = frames[idx] if isinstance(frames, np.ndarray) else frames[torch.tensor(idx)]
        clip = self.preprocessing(frames)
        return clip.to(self._device())

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def denormalize(self, clip: Tensor) -> Tensor:
        """Undo the normalisation: [`denormalize`][videoattr.io.denormalize] with this model's mean and std.

        Args:
            clip: float clip ``(B, 3, T, H, W)`` or ``(3, T, H, W)``.

        Returns:
            uint8 frames ``(B, T, H, W, 3)`` (or ``(T, H, W, 3)``).
        """
        return denormalize(clip, self.mean, self.std)

    def class_name(self, index: int) -> str:
        """Name of class ``index`` (``str(index)`` when the adapter has no class names)."""
        if self.class_names is None or not 0 <= index < len(self.class_names):
            return str(index)
        return self.class_names[index]

    def extra_repr(self) -> str:
        k = len(self.class_names) if self.class_names is not None else "?"
        return (
            f"name={self.name!r}, clip_len={self.clip_len}, size={self.size}, layout={self.layout!r}, "
            f"layer={self.layer!r}, classes={k}"
        )


def wrap(
    model: nn.Module,
    mean: Sequence[float],
    std: Sequence[float],
    clip_len: int,
    size: int | Sequence[int],
    *,
    layer: str | None = None,
    layout: Layout = "BCTHW",
    tokens: TokenGrid | None = None,
    resize: int | Sequence[int] | None = None,
    sampling: ModelSampling = "strided",
    class_names: Sequence[str] | None = None,
    output: OutputFn | None = None,
    name: str = "custom",
    attention_layout: AttentionLayout | None = None,
) -> VideoAdapter:
    """Adapt a user's own video classifier (see [`VideoAdapter`][videoattr.zoo.VideoAdapter] for the arguments).

    ``layer`` is a dotted name inside ``model`` (``"layer4"``, ``"blocks.11"``); the returned adapter's
    `VideoAdapter.layer` prefixes it with ``"model."`` (so do the taps of an ``attention_layout``:
    give them relative to ``model``). A model wrapped by ``torch.compile``,
    ``DataParallel`` or ``DistributedDataParallel`` may be given with the layer's plain name: the
    adapter's layer is then the wrapped name (``"model._orig_mod.layer4"``).

    Example:
        >>> net = nn.Sequential(nn.Conv3d(3, 8, 3), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 4))
        >>> adapter = wrap(net, mean=(0.45,) * 3, std=(0.225,) * 3, clip_len=8, size=64, layer="0")
        >>> adapter.layer, adapter.sampling.indices(20)
        ('model.0', [4, 6, 8, 10, 12, 14, 16, 18])
    """
    full_layer = None if layer is None else f"model.{layer}"
    return VideoAdapter(
        model,
        clip_len=clip_len,
        size=size,
        mean=mean,
        std=std,
        layer=full_layer,
        layout=layout,
        tokens=tokens,
        resize=resize,
        sampling=sampling,
        class_names=class_names,
        output=output,
        name=name,
        attention_layout=None if attention_layout is None else _prefixed(attention_layout),
    )


def _prefixed(layout: AttentionLayout) -> AttentionLayout:
    """``layout`` with its taps named relative to an adapter (``"model."`` prepended)."""
    taps = tuple(dataclasses.replace(t, module=f"model.{t.module}") for t in layout.taps)
    return dataclasses.replace(layout, taps=taps)
