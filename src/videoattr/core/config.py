"""Turning an attributor's options into a JSON-serialisable record (its fingerprint).

The record must tell two configurations apart whenever they can give different results, so tensors are
recorded by shape, dtype and a hash of their values, callables by their qualified name and nested
attributors by their own record.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

#: Tensors with at most this many elements are also recorded value by value.
SMALL_TENSOR = 16


def tensor_record(t: Tensor) -> dict[str, Any]:
    """Describe a tensor by shape, dtype and the SHA-256 of its values (and the values if small).

    Example:
        >>> tensor_record(torch.zeros(2))["values"]
        [0.0, 0.0]
    """
    data = t.detach().to("cpu").contiguous()
    raw = data.float() if data.dtype == torch.bfloat16 else data  # numpy has no bfloat16
    digest = hashlib.sha256(raw.numpy().tobytes()).hexdigest()
    record: dict[str, Any] = {
        "tensor": list(data.shape),
        "dtype": str(data.dtype).replace("torch.", ""),
        "sha256": digest,
    }
    if data.numel() <= SMALL_TENSOR:
        record["values"] = to_jsonable(data.flatten().tolist())
    return record


def qualified_name(obj: object) -> str:
    """``module.qualname`` of a function or class (``repr`` for other callables)."""
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if module is not None and qual is not None:
        return f"{module}.{qual}"
    return repr(obj)[:200]


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` into JSON-serialisable data (``json.dumps`` accepts the result).

    Non-finite floats become the strings ``"nan"``, ``"inf"`` and ``"-inf"``; tensors become
    [`tensor_record`][videoattr.core.config.tensor_record]; objects with a ``config()`` method (attributors) become their record; dataclasses
    become dicts; modules their class name; callables their qualified name.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Tensor):
        return tensor_record(value)
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    config = getattr(value, "config", None)
    if callable(config) and not isinstance(value, type):
        return to_jsonable(config())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, nn.Module):
        return {"module": qualified_name(type(value))}
    if callable(value):
        return {"callable": qualified_name(value)}
    return repr(value)[:200]
