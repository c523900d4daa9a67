"""Weights from local files: reading a state dict safely, loading it with one clear error.

Files are read with ``torch.load(..., weights_only=True)``: a file is data, never code. Anything
that is not a state dict of tensors (a pickled whole model, a pickle that would run code, a
truncated or damaged file, a file of another kind) raises [`WeightsFileError`][videoattr.zoo.WeightsFileError] naming the file
and what was found in it.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.core.errors import ArgumentFileNotFoundError, ArgumentValueError, Setting
from videoattr.core.hooks import unwrap_model
from videoattr.core.validation import describe

__all__ = ["WeightsFileError", "load_state_dict_checked", "read_state_dict"]

_WRAPPER_PREFIXES: tuple[str, ...] = ("module.", "_orig_mod.")


class WeightsFileError(ArgumentValueError):
    """A weights file exists but does not hold a state dict of tensors (the message says why).

    An [`ArgumentError`][videoattr.core.errors.ArgumentError] about ``weights``.
    """

    def __init__(self, *parts: str | Setting, argument: str | None = "weights") -> None:
        super().__init__(*parts, argument=argument)


def _listing(keys: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def read_state_dict(path: str | os.PathLike[str], *, published: str) -> dict[str, Tensor]:
    """Load a state dict from a local file, unwrapping ``{"state_dict": ...}`` and wrapper prefixes.

    The prefixes that ``DataParallel``/``DistributedDataParallel`` (``module.``) and
    ``torch.compile`` (``_orig_mod.``) add to every key are removed.

    Args:
        path: a ``.pth``/``.pt``/``.pth.tar`` file holding a state dict or a training checkpoint.
        published: where such weights are published (named in the error for a missing file).

    Raises:
        ArgumentFileNotFoundError: ``path`` does not exist (a ``FileNotFoundError`` about
            ``weights``; names the file and where to get the weights).
        WeightsFileError: the file holds no state dict of tensors (a ``ValueError``; the message
            names the file and what it holds instead).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ArgumentFileNotFoundError(
            f"weights file {str(p)!r} does not exist. Download the weights yourself ({published}) "
            "and ",
            Setting("weights", "'PATH'"),
            " (videoattr downloads nothing unless asked: for named weights, ",
            Setting("download", "True"),
            ").",
            argument="weights",
        )
    obj = _safe_load(p)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsFileError(
            f"weights file {str(p)!r} does not hold a state_dict (a mapping of parameter names to "
            f"tensors, as saved by torch.save(model.state_dict(), path)); it holds {_found(obj)}"
        )
    state = {str(k): v for k, v in obj.items()}
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _found(obj: Any) -> str:
    if isinstance(obj, Mapping):
        bad = [f"{k!r}: {type(v).__name__}" for k, v in obj.items() if not isinstance(v, Tensor)]
        return f"a mapping with non-tensor values ({_listing(bad, 5)})"
    return describe(obj)


def _safe_load(p: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; every failure becomes one [`WeightsFileError`][videoattr.zoo.WeightsFileError]."""
    expected = (
        "a state_dict (a mapping of parameter names to tensors, as saved by "
        "torch.save(model.state_dict(), path))"
    )
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _unpickling_found(str(err)) or _damaged_found(p, err)
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, OSError) as err:
        found = _damaged_found(p, err)
    except Exception as err:
        found = f"data the loader rejected ({type(err).__name__})"
    raise WeightsFileError(f"weights file {str(p)!r} is not {expected}; it holds {found}")


_GLOBAL = re.compile(
    r"(?:Unsupported global: GLOBAL|unsupported GLOBAL|Unsupported global:)\s+([\w.]+)"
)


def _unpickling_found(message: str) -> str | None:
    """What a pickle that ``weights_only`` refused contains, from the refusal's message."""
    found = _GLOBAL.search(message)
    if found is None:
        return None
    return (
        f"a pickled object that needs {found.group(1).rstrip('.')} (a whole model or other Python "
        "object; loading it would run code from the file, so videoattr does not)"
    )


def _damaged_found(p: Path, err: BaseException) -> str:
    size = p.stat().st_size
    if size == 0:
        return "nothing (the file is empty)"
    with p.open("rb") as f:
        start = f.read(4)
    if start.startswith(b"PK"):
        return f"a damaged or truncated PyTorch archive of {size} bytes ({type(err).__name__})"
    if start[:1] == b"\x80":
        return f"a truncated or damaged pickle of {size} bytes ({type(err).__name__})"
    return f"{size} bytes of another format, starting with {start!r}"


def load_state_dict_checked(module: nn.Module, state: Mapping[str, Tensor], *, source: str) -> None:
    """Load ``state`` into ``module``, raising one error that lists every missing/unexpected/mismatched key.

    A ``module`` wrapped by ``torch.compile``, ``DataParallel`` or ``DistributedDataParallel`` is
    loaded through its wrapper (the keys of ``state`` carry no wrapper prefix).

    Raises:
        ArgumentValueError: the keys or shapes do not match the architecture (a ``ValueError`` about
            ``weights``; nothing is loaded then).
    """
    module = unwrap_model(module)
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
        raise ArgumentValueError(
            f"the weights in {source} do not match the {type(module).__name__} architecture; "
            + "; ".join(parts),
            argument="weights",
        )
    module.load_state_dict(state, strict=True)
