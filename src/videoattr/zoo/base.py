"""The model adapter and the registry behind [`videoattr.zoo.load`][videoattr.zoo.load].

A [`VideoAdapter`][videoattr.zoo.base.VideoAdapter] is an ``nn.Module`` that takes normalised clips ``(B, C, T, H, W)`` and returns
``(B, K)`` logits, whatever layout and output type the wrapped network uses, and carries what an
attribution needs to know about the model: clip length, input size, mean/std, frame sampling,
preprocessing, class names and the default Grad-CAM layer with its reshape.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.transforms import InterpolationMode  # type: ignore[import-untyped, unused-ignore]
from torchvision.transforms import functional as TF  # type: ignore[import-untyped, unused-ignore]

from videoattr.core.hooks import Reshape
from videoattr.core.validation import check_choice, describe

Layout = Literal["BCTHW", "BTCHW", "(BT)CHW"]
LAYOUTS: tuple[str, ...] = ("BCTHW", "BTCHW", "(BT)CHW")
TokenOrder = Literal["thw", "hwt"]
Frames: TypeAlias = Tensor | np.ndarray
OutputFn = Callable[[Any], Tensor]


# ---------------------------------------------------------------------------------------------------
# Frame sampling and preprocessing
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameSampling:
    """Which frames of a video of ``n`` frames make up one clip of ``clip_len`` frames.

    Attributes:
        kind: ``"stride"``: every ``max(n // clip_len, 1)``-th frame from the first, keeping the last
            ``clip_len`` (the seed's sampling for 3-D CNNs); ``"segments"``: the centre frame of each of
            ``clip_len`` equal segments (TSN/TSM test-time sampling, also used for the transformers).
        clip_len: number of frames ``T`` in a clip.
    """

    kind: Literal["stride", "segments"]
    clip_len: int

    def indices(self, num_frames: int) -> list[int]:
        """Frame indices (length ``clip_len``) into a video of ``num_frames`` frames.

        Videos shorter than ``clip_len`` repeat their last frame.

        Raises:
            ValueError: ``num_frames`` < 1.
        """
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1; got {num_frames}")
        t = self.clip_len
        if self.kind == "stride":
            idx = list(range(0, num_frames, max(num_frames // t, 1)))[-t:]
        else:
            tick = num_frames / t
            idx = [min(int(tick / 2 + tick * i), num_frames - 1) for i in range(t)]
        return idx + [idx[-1]] * (t - len(idx))


@dataclass(frozen=True)
class Preprocessing:
    """uint8 frames to a normalised clip, as torchvision's ``VideoClassification`` preset does it.

    Frames are resized (``resize`` = ``(s,)`` scales the shorter side to ``s``; ``(h, w)`` resizes to
    exactly that size) on uint8 values with bilinear interpolation, centre-cropped to ``crop``, scaled
    to ``[0, 1]`` and normalised with ``mean``/``std``.
    """

    resize: tuple[int] | tuple[int, int]
    crop: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    antialias: bool = False

    def __call__(self, frames: Frames) -> Tensor:
        """Turn frames ``(T, H, W, 3)`` (uint8, numpy or tensor) into a clip ``(1, 3, T, h, w)`` float32.

        Float frames are accepted too and taken to be in ``[0, 1]``.
        """
        x = _frames_to_tchw(frames)
        x = TF.resize(
            x, list(self.resize), interpolation=InterpolationMode.BILINEAR, antialias=self.antialias
        )
        x = TF.center_crop(x, list(self.crop))
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        x = TF.normalize(x, list(self.mean), list(self.std))
        clip: Tensor = x.permute(1, 0, 2, 3).unsqueeze(0).contiguous()
        return clip


def _frames_to_tchw(frames: Frames) -> Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, Tensor):
        raise TypeError(
            f"frames must be a numpy array or tensor of shape (T, H, W, 3); got {describe(frames)}"
        )
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frames must have shape (T, H, W, 3) (RGB, channels last); got {tuple(frames.shape)}"
        )
    if frames.dtype != torch.uint8 and not frames.is_floating_point():
        raise TypeError(f"frames must be uint8 (0..255) or float (0..1); got dtype {frames.dtype}")
    return frames.permute(0, 3, 1, 2)


# ---------------------------------------------------------------------------------------------------
# Token reshape for transformers
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenGrid:
    """How a transformer layer's tokens map onto a ``(T', H', W')`` grid.

    Attributes:
        stride: input frames/pixels per token along ``(T, H, W)`` at the hooked layer.
        prefix_tokens: class (or other) tokens before the patch tokens, dropped.
        order: ``"thw"``: tokens ordered time-major; ``"hwt"``: space-major (TimeSformer).
        channels_last: the layer outputs a ``(B, T', H', W', D)`` grid (Video Swin) instead of tokens.
        frames_in_batch: the layer outputs ``(B*T', 1 + H'W', D)`` (frames folded into the batch).
    """

    stride: tuple[int, int, int]
    prefix_tokens: int = 1
    order: TokenOrder = "thw"
    channels_last: bool = False
    frames_in_batch: bool = False

    def grid(self, size: tuple[int, int, int]) -> tuple[int, int, int]:
        """The token grid ``(T', H', W')`` for an input clip of ``(T, H, W)``."""
        return (
            math.ceil(size[0] / self.stride[0]),
            math.ceil(size[1] / self.stride[1]),
            math.ceil(size[2] / self.stride[2]),
        )

    def to_volume(self, tokens: Tensor, size: tuple[int, int, int]) -> Tensor:
        """Turn the layer output into ``(B, D, T', H', W')`` given the input clip's ``(T, H, W)``."""
        if self.channels_last:
            if tokens.dim() != 5:
                raise ValueError(
                    f"expected a (B, T', H', W', D) layer output; got {tuple(tokens.shape)}"
                )
            return tokens.permute(0, 4, 1, 2, 3)
        t, h, w = self.grid(size)
        if tokens.dim() != 3:
            raise ValueError(f"expected a (B, N, D) token layer output; got {tuple(tokens.shape)}")
        if self.frames_in_batch:
            patches = tokens[:, self.prefix_tokens :]
            if patches.shape[1] != h * w or patches.shape[0] % t:
                raise ValueError(
                    f"cannot arrange {tuple(tokens.shape)} tokens on a {(t, h, w)} grid "
                    f"(stride {self.stride}, {self.prefix_tokens} prefix tokens per frame)"
                )
            vol = patches.reshape(-1, t, h, w, patches.shape[-1])
            return vol.permute(0, 4, 1, 2, 3)
        patches = tokens[:, self.prefix_tokens :]
        if patches.shape[1] != t * h * w:
            raise ValueError(
                f"cannot arrange {patches.shape[1]} tokens (after dropping {self.prefix_tokens} prefix "
                f"tokens) on the {(t, h, w)} grid of a {size} clip with stride {self.stride}"
            )
        b, _, d = patches.shape
        if self.order == "thw":
            return patches.reshape(b, t, h, w, d).permute(0, 4, 1, 2, 3)
        return patches.reshape(b, h, w, t, d).permute(0, 4, 3, 1, 2)


# ---------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------
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
        resize: resize before the centre crop in [`preprocess`][videoattr.zoo.base.VideoAdapter.preprocess]: ``(s,)`` for the shorter side or
            ``(h, w)``; default: shorter side ``round(size * 256 / 224)``.
        sampling: ``"stride"`` or ``"segments"`` (see [`FrameSampling`][videoattr.zoo.base.FrameSampling]).
        class_names: the ``K`` class names, or ``None``.
        output: callable extracting the ``(B, K)`` logits from the model output; default
            [`default_output`][videoattr.zoo.base.default_output].
        name: a short name for ``repr`` and error messages.
        antialias: antialiased resize in [`preprocess`][videoattr.zoo.base.VideoAdapter.preprocess] (torchvision's video presets: ``False``).

    Example:
        >>> adapter = VideoAdapter(net, clip_len=16, size=112, mean=(0.43, 0.39, 0.37),
        ...                        std=(0.22, 0.22, 0.21), layer="model.layer4")
        >>> clip = adapter.preprocess(frames)          # (1, 3, 16, 112, 112)
        >>> GradCAM3D(adapter, layer=adapter.layer, reshape=adapter.reshape).attribute(clip)
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
        sampling: Literal["stride", "segments"] = "stride",
        class_names: Sequence[str] | None = None,
        output: OutputFn | None = None,
        name: str = "custom",
        antialias: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
        check_choice(layout, "layout", LAYOUTS)
        check_choice(sampling, "sampling", ("stride", "segments"))
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
            from videoattr.core.hooks import resolve_layer

            resolve_layer(self, layer)
        self.layer = layer

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
        """Undo the normalisation: ``(B, 3, T, H, W)`` clip to values in ``[0, 1]`` (clamped)."""
        mean = torch.tensor(self.mean, device=clip.device, dtype=clip.dtype).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.std, device=clip.device, dtype=clip.dtype).view(1, 3, 1, 1, 1)
        return (clip * std + mean).clamp(0.0, 1.0)

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
    sampling: Literal["stride", "segments"] = "stride",
    class_names: Sequence[str] | None = None,
    output: OutputFn | None = None,
    name: str = "custom",
) -> VideoAdapter:
    """Adapt a user's own video classifier (see [`VideoAdapter`][videoattr.zoo.base.VideoAdapter] for the arguments).

    ``layer`` is a dotted name inside ``model`` (``"layer4"``, ``"blocks.11"``); the returned adapter's
    `layer` prefixes it with ``"model."``.

    Example:
        >>> adapter = wrap(my_net, mean=(0.45,) * 3, std=(0.225,) * 3, clip_len=16, size=224,
        ...                layer="blocks.3", layout="BTCHW")
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
    )


# ---------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------
def _listing(keys: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def read_state_dict(path: str | os.PathLike[str], *, published: str) -> dict[str, Tensor]:
    """Load a state dict from a local file, unwrapping ``{"state_dict": ...}`` and ``module.`` prefixes.

    Args:
        path: a ``.pth``/``.pt``/``.pth.tar`` file holding a state dict or a training checkpoint.
        published: where such weights are published (named in the error for a missing file).

    Raises:
        FileNotFoundError: ``path`` does not exist (names the file and where to get the weights).
        ValueError: the file holds no state dict.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"weights file {str(p)!r} does not exist. Download the weights yourself ({published}) and pass "
            "the local path as weights=...; videoattr never downloads weights."
        )
    obj = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{str(p)!r} does not hold a state dict of tensors (got {describe(obj)})")
    state = {str(k): v for k, v in obj.items()}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_state_dict_checked(module: nn.Module, state: Mapping[str, Tensor], *, source: str) -> None:
    """Load ``state`` into ``module``, raising one error that lists every missing/unexpected/mismatched key.

    Raises:
        ValueError: the keys or shapes do not match the architecture (nothing is loaded then).
    """
    own = module.state_dict()
    state = dict(state)
    for (
        key,
        value,
    ) in own.items():  # checkpoints from before PyTorch 0.4.1 have no BN batch counters
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches: {_listing(mismatched)}")
        raise ValueError(
            f"the weights in {source} do not match the {type(module).__name__} architecture; "
            + "; ".join(parts)
        )
    module.load_state_dict(state, strict=True)


# ---------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------
Builder = Callable[..., VideoAdapter]


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo: how to build it and what it needs.

    Attributes:
        name: the name passed to [`load`][videoattr.zoo.load].
        builder: ``builder(weights=..., num_classes=..., **options) -> VideoAdapter``.
        description: one line on the architecture and input.
        requires: the packages it needs beyond the core (``()`` for none).
        weights: what ``weights=`` accepts and where the weights are published.
    """

    name: str
    builder: Builder = field(repr=False)
    description: str
    requires: tuple[str, ...] = ()
    weights: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        needs = ", ".join(self.requires) if self.requires else "core only"
        state = "" if self.installed() else " [not installed]"
        return f"{self.name}: {self.description} (needs: {needs}{state}; weights: {self.weights})"

    def installed(self) -> bool:
        """Whether the extra packages it needs can be imported."""
        import importlib.util
        import sys

        for req in self.requires:
            if req in sys.modules:
                if sys.modules[req] is None:
                    return False
                continue
            try:
                if importlib.util.find_spec(req) is None:
                    return False
            except (ImportError, ValueError):
                return False
        return True


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add ``entry`` to the zoo (a later entry with the same name replaces it)."""
    _REGISTRY[entry.name] = entry
    for alias in entry.aliases:
        _REGISTRY[alias] = entry
    return entry


def entries() -> list[ZooEntry]:
    """All registered entries, once each, in registration order."""
    seen: dict[str, ZooEntry] = {}
    for entry in _REGISTRY.values():
        seen.setdefault(entry.name, entry)
    return list(seen.values())


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name`` (or an alias of it).

    Raises:
        ValueError: unknown name (the message lists the zoo).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {describe(name)}")
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {sorted(e.name for e in entries())}")
    return _REGISTRY[key]
