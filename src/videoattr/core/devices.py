"""One place that turns what a user types for a device into a `torch.device`."""

from __future__ import annotations

import torch

from videoattr.core.validation import describe

_EXAMPLES = "'cpu', 'cuda', 'cuda:1' or 'mps'"


def resolve_device(
    spec: str | torch.device | None = None, *, local_rank: int | None = None
) -> torch.device:
    """The device to compute on, checked to exist on this machine.

    Args:
        spec: ``None`` picks CUDA when it is available, else the CPU; otherwise a device name such as
            ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` (or a `torch.device`).
            Default ``None``.
        local_rank: this process's rank on its node (``torchrun``'s ``LOCAL_RANK``). When given,
            ``"cuda"`` without an index (and ``None`` on a CUDA machine) becomes
            ``cuda:<local_rank % device_count>``, so each rank of a node gets its own GPU; an explicit
            index is kept. Default ``None`` (index 0 is left implicit).

    Returns:
        The `torch.device`.

    Raises:
        ValueError: ``spec`` is not a device name (``"bogus"``), or names a device this machine lacks
            (``"cuda"`` without a GPU, ``"cuda:3"`` with two GPUs, ``"mps"`` off Apple silicon).
        TypeError: ``spec`` is neither ``None``, a str nor a `torch.device`.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if spec is None:
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(spec, str):
        try:
            device = torch.device(spec.strip())
        except (RuntimeError, ValueError):
            raise ValueError(f"device {spec!r} is not a device name; use {_EXAMPLES}") from None
    elif isinstance(spec, torch.device):
        device = spec
    else:
        raise TypeError(f"device must be None, a str or a torch.device; got {describe(spec)}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(spec)!r} needs a CUDA GPU, but CUDA is not available here "
                f"(torch {torch.__version__}); use 'cpu'"
            )
        count = torch.cuda.device_count()
        if device.index is None and local_rank is not None:
            device = torch.device("cuda", local_rank % count)
        elif device.index is not None and device.index >= count:
            raise ValueError(
                f"device {str(spec)!r} does not exist: this machine has {count} CUDA device(s) "
                f"(cuda:0 .. cuda:{count - 1})"
            )
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {str(spec)!r} is not available here; use 'cpu'")
    return device
