"""Input validation with error messages that name the argument, what was expected and what was given."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def normalize_name(name: str) -> str:
    """The lookup key of a registered name: lower case, with ``-`` and spaces read as ``_``.

    The method registry and the model zoo both match names by it.
    """
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def describe(value: object) -> str:
    """Short human description of ``value`` for error messages."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    return f"{type(value).__name__} {value!r}"[:200]


def check_clip(
    x: object, name: str = "x", *, min_size: tuple[int, int, int] | None = None
) -> Tensor:
    """Validate a batch of clips and return it unchanged.

    Args:
        x: the clip batch, expected a floating-point tensor of shape ``(B, C, T, H, W)`` with only finite
            values.
        name: the argument name used in error messages.
        min_size: optional minimum ``(T, H, W)``.

    Returns:
        ``x`` itself; a clone of ``x`` if it was made under ``torch.inference_mode()`` (autograd
        cannot use such a tensor, and the clone is an ordinary one).

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: wrong rank, an empty dimension, NaN/inf values, a clip on the ``meta`` device (no
            data), or a clip smaller than ``min_size``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (B, C, T, H, W); got {describe(x)}"
        )
    if x.dim() != 5:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 4 else ""
        raise ValueError(
            f"{name} must have 5 dimensions (B, C, T, H, W); got {x.dim()} dimensions with shape "
            f"{tuple(x.shape)}{hint}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (normalised clip); got dtype {x.dtype}. "
            "Convert uint8 frames with a model adapter's preprocess() or x.float()."
        )
    if x.device.type == "meta":
        raise ValueError(
            f"{name} is on the 'meta' device (a shape without data); move real data to the model's device "
            "first"
        )
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{name} must not have an empty dimension; got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; expected finite values")
    if min_size is not None:
        t, h, w = x.shape[2:]
        mt, mh, mw = min_size
        if t < mt or h < mh or w < mw:
            raise ValueError(
                f"{name} is too small: (T, H, W) = {(t, h, w)}; this method needs at least "
                f"T >= {mt}, H >= {mh}, W >= {mw}"
            )
    if x.is_inference() and not torch.is_inference_mode_enabled():
        return x.clone()  # an ordinary tensor: gradients can flow to it
    return x


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an ``int`` >= ``minimum``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}; got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return value


def check_optional_batch_size(value: object, name: str = "max_batch_size") -> int | None:
    """Validate a ``max_batch_size``-style bound: ``None`` (no bound) or a positive int."""
    if value is None:
        return None
    return check_positive_int(value, name)


def check_choice(value: object, name: str, choices: Sequence[object]) -> None:
    """Raise ``ValueError`` naming ``name`` if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")


def check_areas(areas: float | Sequence[float] | Tensor, name: str = "areas") -> list[float]:
    """Normalise target areas to a non-empty list of floats strictly inside (0, 1)."""
    if isinstance(areas, Tensor):
        values = [float(a) for a in areas.flatten().tolist()]
    elif isinstance(areas, (int, float)) and not isinstance(areas, bool):
        values = [float(areas)]
    elif isinstance(areas, Sequence) and not isinstance(areas, str):
        values = []
        for a in areas:
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise TypeError(f"{name} must be floats in (0, 1); got element {describe(a)}")
            values.append(float(a))
    else:
        raise TypeError(
            f"{name} must be a float or a sequence of floats in (0, 1); got {describe(areas)}"
        )
    if not values:
        raise ValueError(f"{name} must contain at least one area in (0, 1); got an empty sequence")
    bad = [a for a in values if not (0.0 < a < 1.0)]
    if bad:
        raise ValueError(f"{name} must lie strictly inside (0, 1); got {bad}")
    return values


def check_finite_float(value: object, name: str, *, minimum: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite real number (``>= minimum``), else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a finite float; got {describe(value)}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite float; got {value!r}")
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be a float >= {minimum}; got {value!r}")
    return out


def check_finite_tensor(t: Tensor, name: str) -> Tensor:
    """Return ``t`` if it holds only finite values, else raise ``ValueError`` naming ``name``."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the 'meta' device (a shape without data)")
    if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; expected finite values")
    return t
