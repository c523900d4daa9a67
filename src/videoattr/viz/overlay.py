"""Turn attribution maps and clips into uint8 frames: de-normalisation, colouring and overlays.

Everything here runs in torch on the device of its input and returns ``torch.uint8`` frames with RGB
channels last, ``(..., T, H, W, 3)``, ready for [`videoattr.viz.writers`][videoattr.viz.writers] and
[`videoattr.viz.sheet`][videoattr.viz.sheet].

Maps are scaled to ``[0, 1]`` one map at a time (a map is the last three dimensions ``(T, H, W)``;
every leading index, e.g. each clip and area of a ``(B, A, T, H, W)`` tensor, is scaled on its own):

- ``polarity="signed"``: ``x / (2 max|x|) + 0.5``, so 0 sits in the middle of a diverging colormap
  (``"bwr"`` by default: negative blue, white at 0, positive red);
- ``polarity=None`` (the default): **signed maps are always drawn centred on zero**. When any value
  drawn together is negative (SmoothGrad, occlusion, temporal occlusion, signed gradients) the maps
  are treated as ``polarity="signed"``; otherwise (masks, CAMs, ``"positive"`` gradients) min-max per
  map (a constant map becomes 0). The decision is taken from the values, once per picture, by
  [`OverlayStyle.resolve`][videoattr.viz.style.OverlayStyle.resolve], so it holds for every method,
  whether or not the caller knows it returns signed maps;
- ``polarity="positive" | "negative" | "absolute"``: the polarity is applied (as by the gradient
  methods), then the map is divided by its maximum, so 0 stays 0;
- ``value_range=(lo, hi)``: ``(x - lo) / (hi - lo)`` clamped to ``[0, 1]`` (after the polarity), the
  same scale for every map. Use ``(0, 1)`` for perturbation masks, which are already in ``[0, 1]``.
  On a signed scale the range becomes ``(-m, m)`` with ``m = max(|lo|, |hi|)``, so 0 stays white.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import torch
from torch import Tensor

from videoattr.core.ops import POLARITIES, Polarity, apply_polarity, resize_to_clip
from videoattr.core.validation import check_choice, describe
from videoattr.io import as_frames, denormalize
from videoattr.viz.colormaps import Colormap, apply_colormap
from videoattr.viz.style import OverlayStyle, merge_style

__all__ = [
    "apply_mask",
    "as_maps",
    "blend",
    "colorize",
    "denormalize",
    "overlay",
    "preserved_clip",
    "scale_maps",
    "to_frames",
]


def to_frames(
    frames: Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    name: str = "frames",
) -> Tensor:
    """uint8 frames from either uint8 frames or a normalised float clip.

    Args:
        frames: uint8 frames ``(T, H, W, 3)`` / ``(B, T, H, W, 3)`` (returned as they are), or a
            float clip ``(B, C, T, H, W)`` / ``(C, T, H, W)`` de-normalised with ``mean``/``std``
            (see [`denormalize`][videoattr.io.denormalize]).
        mean: per-channel mean, for float clips only.
        std: per-channel std, for float clips only.
        name: the argument name used in error messages.

    Returns:
        uint8 frames ``(T, H, W, 3)`` or ``(B, T, H, W, 3)``.
    """
    if isinstance(frames, Tensor) and frames.is_floating_point():
        return denormalize(frames, mean, std)
    return as_frames(frames, name, batched=True)


def scale_maps(
    heatmap: Tensor,
    *,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
) -> Tensor:
    """Scale attribution maps to ``[0, 1]`` one ``(T, H, W)`` map at a time (see the module notes).

    Args:
        heatmap: float tensor ``(..., T, H, W)``, e.g. ``(B, A, T, H, W)`` or ``(T, H, W)``.
        polarity: ``None`` (signed when any value is negative, else min-max per map),
            ``"signed"``, ``"positive"``, ``"negative"`` or ``"absolute"``.
        value_range: optional fixed ``(lo, hi)`` with ``lo < hi`` mapped to ``[0, 1]`` (made
            symmetric, ``(-m, m)``, on a signed scale).

    Returns:
        float32 tensor of the same shape, values in ``[0, 1]``.

    Example:
        >>> scale_maps(torch.tensor([[[-2.0, 0.0, 1.0]]])).tolist()  # signed: 0 -> 0.5
        [[[0.0, 0.5, 0.75]]]
    """
    if not isinstance(heatmap, Tensor) or heatmap.dim() < 3:
        raise TypeError(f"heatmap must be a tensor (..., T, H, W); got {describe(heatmap)}")
    if polarity is not None:
        check_choice(polarity, "polarity", POLARITIES)
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not lo < hi:
            raise ValueError(f"value_range must be (lo, hi) with lo < hi; got {value_range!r}")
    style = OverlayStyle(polarity=polarity, value_range=value_range).resolve(heatmap)
    polarity, value_range = style.polarity, style.value_range
    x = torch.nan_to_num(heatmap.detach().float())
    if polarity is not None and polarity != "signed":
        x = apply_polarity(x, polarity)
    if value_range is not None:
        lo, hi = value_range
        return ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    flat = x.flatten(-3)
    eps = torch.finfo(torch.float32).tiny
    if polarity == "signed":
        peak = flat.abs().amax(-1, keepdim=True).clamp_min(eps)
        return (flat / (2 * peak) + 0.5).view_as(x)
    if polarity is not None:
        peak = flat.amax(-1, keepdim=True).clamp_min(eps)
        return (flat / peak).clamp(0.0, 1.0).view_as(x)
    lo_t = flat.amin(-1, keepdim=True)
    span = (flat.amax(-1, keepdim=True) - lo_t).clamp_min(eps)
    return ((flat - lo_t) / span).view_as(x)


def colorize(
    heatmap: Tensor,
    cmap: Colormap | None = None,
    *,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
) -> Tensor:
    """Colour attribution maps with a colormap.

    Args:
        heatmap: float tensor ``(..., T, H, W)``.
        cmap: colormap name or ``(N, 3)`` table; default ``"turbo"``, or ``"bwr"`` for signed
            maps.
        polarity: see [`scale_maps`][videoattr.viz.overlay.scale_maps]; ``None`` draws maps with
            negative values on the signed scale.
        value_range: see [`scale_maps`][videoattr.viz.overlay.scale_maps].

    Returns:
        uint8 tensor ``(..., T, H, W, 3)`` on the heatmap's device.
    """
    style = OverlayStyle(cmap=cmap, polarity=polarity, value_range=value_range).resolve(heatmap)
    scaled = scale_maps(heatmap, polarity=style.polarity, value_range=style.value_range)
    rgb = apply_colormap(scaled, style.colormap)
    return (rgb * 255.0).round().to(torch.uint8)


def as_maps(heatmap: object, name: str = "heatmap") -> Tensor:
    """Validate attribution maps and return them as ``(B, A, T, H, W)``.

    A single ``(T, H, W)`` map gets ``B = A = 1``; a 5-D tensor is returned as it is.

    Raises:
        TypeError: not a tensor.
        ValueError: neither 5 nor 3 dimensions.
    """
    if not isinstance(heatmap, Tensor):
        raise TypeError(
            f"{name} must be a tensor (B, A, T, H, W) or (T, H, W); got {describe(heatmap)}"
        )
    if heatmap.dim() not in (3, 5):
        raise ValueError(
            f"{name} must have shape (B, A, T, H, W) or (T, H, W); got shape {tuple(heatmap.shape)}"
        )
    return heatmap if heatmap.dim() == 5 else heatmap[None, None]


def _match(heatmap: Tensor, frames: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """``heatmap`` as ``(B, A, T, H, W)`` at the frames' size; frames as ``(B, T, H, W, 3)``."""
    maps = as_maps(heatmap, name).detach().float()
    frames = frames.to(maps.device)
    if frames.dim() == 4:
        frames = frames.unsqueeze(0)
    b, bf = maps.shape[0], frames.shape[0]
    if bf not in (1, b):
        raise ValueError(
            f"frames hold {bf} clips but {name} holds {b}; give one clip of frames or one per map"
        )
    frames = frames.expand(b, *frames.shape[1:])
    maps = resize_to_clip(maps, (frames.shape[1], frames.shape[2], frames.shape[3]))
    return maps, frames


def _to_tensor(value: object, name: str) -> Tensor:
    """A numpy array as a tensor (floats in ``[0, 1]`` of an image stay floats); tensors as they are."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, Tensor):
        return value
    raise TypeError(f"{name} must be a torch tensor or a numpy array; got {describe(value)}")


def _image_frames(image: Tensor) -> Tensor:
    """An ``(H, W, 3)`` image (uint8, or float in ``[0, 1]``) as uint8 frames ``(1, H, W, 3)``."""
    if image.is_floating_point():
        lo, hi = float(image.min()), float(image.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                "frames: a float (H, W, 3) image must hold values in [0, 1] (as for "
                f"pytorch-grad-cam's show_cam_on_image); got values in [{lo:.3g}, {hi:.3g}]"
            )
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if image.dtype != torch.uint8:
        raise TypeError(f"frames: an (H, W, 3) image must be uint8 or float; got {image.dtype}")
    return image.unsqueeze(0)


@overload
def overlay(
    frames: Tensor,
    heatmap: Tensor | np.ndarray,
    cmap: Colormap | None = ...,
    alpha: float | None = ...,
    *,
    style: OverlayStyle | None = ...,
    polarity: Polarity | None = ...,
    value_range: tuple[float, float] | None = ...,
    mean: Sequence[float] | None = ...,
    std: Sequence[float] | None = ...,
) -> Tensor: ...


@overload
def overlay(
    frames: np.ndarray,
    heatmap: Tensor | np.ndarray,
    cmap: Colormap | None = ...,
    alpha: float | None = ...,
    *,
    style: OverlayStyle | None = ...,
    polarity: Polarity | None = ...,
    value_range: tuple[float, float] | None = ...,
    mean: Sequence[float] | None = ...,
    std: Sequence[float] | None = ...,
) -> np.ndarray: ...


def overlay(
    frames: Tensor | np.ndarray,
    heatmap: Tensor | np.ndarray,
    cmap: Colormap | None = None,
    alpha: float | None = None,
    *,
    style: OverlayStyle | None = None,
    polarity: Polarity | None = None,
    value_range: tuple[float, float] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Tensor | np.ndarray:
    """Blend coloured attribution maps over video frames (or over one image).

    Each output pixel is ``round((1 - alpha) * frame + alpha * colour)``. Maps whose ``(T, H, W)``
    differs from the frames' are resized by trilinear interpolation first.

    Both torch tensors and numpy arrays are accepted, and the result is of the kind of ``frames``:
    a numpy image ``(H, W, 3)`` (uint8, or float in ``[0, 1]`` as for pytorch-grad-cam's
    ``show_cam_on_image``) with an ``(H, W)`` map gives a numpy uint8 image ``(H, W, 3)``.

    Args:
        frames: uint8 frames ``(T, H, W, 3)`` / ``(B, T, H, W, 3)``, the float clip given to the
            attributor, ``(B, C, T, H, W)``, de-normalised with the style's ``mean``/``std``, or
            one image ``(H, W, 3)`` (uint8 or float in ``[0, 1]``).
        heatmap: ``(B, A, T, H, W)`` maps straight from an attributor (``A`` = 1 for gradient maps,
            one per area for perturbation masks), a single ``(T, H, W)`` map, or an ``(H, W)`` map
            for an image.
        cmap: colormap name or ``(N, 3)`` table (overrides ``style.cmap``).
        alpha: opacity of the colours in ``[0, 1]`` (overrides ``style.alpha``, default 0.5).
        style: the [`OverlayStyle`][videoattr.viz.style.OverlayStyle]; default ``OverlayStyle()``.
        polarity: overrides ``style.polarity``; see [`scale_maps`][videoattr.viz.overlay.scale_maps].
        value_range: overrides ``style.value_range``; pass ``(0, 1)`` for masks.
        mean: overrides ``style.mean`` (per-channel mean for a float ``frames`` clip).
        std: overrides ``style.std`` (per-channel std for a float ``frames`` clip).

    Returns:
        uint8 ``(B, A, T, H, W, 3)`` (or ``(T, H, W, 3)`` for a ``(T, H, W)`` map, ``(H, W, 3)``
        for an image): a tensor on the heatmap's device, or a numpy array when ``frames`` is one.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``, mismatched clip counts or wrong shapes.

    Example:
        >>> frames = torch.zeros(2, 4, 4, 3, dtype=torch.uint8)
        >>> overlay(frames, torch.rand(1, 1, 2, 4, 4)).shape
        torch.Size([1, 1, 2, 4, 4, 3])
        >>> import numpy as np
        >>> overlay(np.zeros((4, 4, 3), np.float32), np.ones((4, 4), np.float32)).shape
        (4, 4, 3)
    """
    st = merge_style(
        style,
        cmap=cmap,
        alpha=alpha,
        polarity=polarity,
        value_range=value_range,
        mean=mean,
        std=std,
    )
    numpy_out = isinstance(frames, np.ndarray)
    frames_t = _to_tensor(frames, "frames")
    maps_t = _to_tensor(heatmap, "heatmap")
    image = maps_t.dim() == 2 and frames_t.dim() == 3
    if image:
        frames_t, maps_t = _image_frames(frames_t), maps_t.unsqueeze(0)
    single = maps_t.dim() == 3
    out = blend(frames_t, maps_t, st)
    result = out[0, 0] if single else out
    if image:
        result = result[0]
    return result.cpu().numpy() if numpy_out else result


def blend(frames: Tensor, heatmap: Tensor, style: OverlayStyle) -> Tensor:
    """[`overlay`][videoattr.viz.overlay.overlay] for tensors, always ``(B, A, T, H, W, 3)``.

    Args:
        frames: uint8 frames ``(T, H, W, 3)`` / ``(B, T, H, W, 3)`` or a float clip
            ``(B, C, T, H, W)`` (de-normalised with the style's ``mean``/``std``).
        heatmap: ``(B, A, T, H, W)`` or ``(T, H, W)`` maps.
        style: the [`OverlayStyle`][videoattr.viz.style.OverlayStyle], settled for all the maps
            together by [`resolve`][videoattr.viz.style.OverlayStyle.resolve] (signed maps centred
            on zero).

    Returns:
        uint8 tensor ``(B, A, T, H, W, 3)`` on the heatmap's device.
    """
    maps, rgb_frames = _match(heatmap, to_frames(frames, style.mean, style.std), "heatmap")
    style = style.resolve(maps)
    colours = colorize(
        maps, style.colormap, polarity=style.polarity, value_range=style.value_range
    ).float()
    base = rgb_frames.float().unsqueeze(1)
    a = style.alpha
    return ((1.0 - a) * base + a * colours).round().clamp(0, 255).to(torch.uint8)


def apply_mask(
    frames: Tensor,
    mask: Tensor,
    background: float | Sequence[float] = 0.0,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Tensor:
    """Frames showing only what a mask keeps: ``mask * frame + (1 - mask) * background``.

    A simple "preserved" view that needs no perturbation operator (for the blurred view of the
    paper, render the perturbed clip with [`preserved_clip`][videoattr.viz.overlay.preserved_clip]).

    Args:
        frames: uint8 frames or a float clip, as for [`overlay`][videoattr.viz.overlay.overlay].
        mask: ``(B, A, T, H, W)`` or ``(T, H, W)`` values in ``[0, 1]`` (clamped; resized to the
            frames when needed).
        background: grey level in ``[0, 255]`` or an RGB triple; default 0 (black).
        mean: per-channel mean for a float ``frames`` clip.
        std: per-channel std for a float ``frames`` clip.

    Returns:
        uint8 tensor ``(B, A, T, H, W, 3)`` (or ``(T, H, W, 3)``) on the mask's device.
    """
    single = isinstance(mask, Tensor) and mask.dim() == 3
    maps, rgb_frames = _match(mask, to_frames(frames, mean, std), "mask")
    m = maps.clamp(0.0, 1.0).unsqueeze(-1)
    bg = torch.as_tensor(background, dtype=torch.float32, device=m.device).flatten()
    if bg.numel() not in (1, 3):
        raise ValueError(f"background must be one grey level or an RGB triple; got {background!r}")
    out = m * rgb_frames.float().unsqueeze(1) + (1.0 - m) * bg
    result = out.round().clamp(0, 255).to(torch.uint8)
    return result[0, 0] if single else result


def preserved_clip(
    perturbed: Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Tensor:
    """Frames of a perturbed ("preserved") clip, e.g. the output of ``Perturbation.apply(mask)``.

    Args:
        perturbed: float clip ``(B, C, T, H, W)``, or ``(B, A, C, T, H, W)`` with one clip per area.
        mean: per-channel mean used to normalise the clip.
        std: per-channel std used to normalise the clip.

    Returns:
        uint8 frames ``(B, T, H, W, 3)`` or ``(B, A, T, H, W, 3)``.
    """
    if isinstance(perturbed, Tensor) and perturbed.dim() == 6:
        b, a = perturbed.shape[:2]
        frames = denormalize(perturbed.flatten(0, 1), mean, std)
        return frames.view(b, a, *frames.shape[1:])
    return denormalize(perturbed, mean, std)
