"""Finding layers through model wrappers (``torch.compile``, ``DataParallel``, DDP).

``torch.compile`` keeps the network as ``_orig_mod`` and ``DataParallel`` /
``DistributedDataParallel`` as ``module``, so ``layer4`` of the network is ``_orig_mod.layer4`` or
``module.layer4`` of the wrapper. The zoo's default layers and [`wrap`][videoattr.zoo.wrap] use
[`find_layer_name`][videoattr.zoo.find_layer_name] to accept the plain name either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

__all__ = ["find_layer_name", "match_layer_name", "unwrap_model"]


def _wrapped_child(module: nn.Module) -> tuple[str, nn.Module] | None:
    """``(attribute, inner module)`` when ``module`` is a compile/DataParallel/DDP wrapper."""
    if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return "module", module.module
    inner = module.__dict__.get("_modules", {}).get("_orig_mod")
    if type(module).__name__ == "OptimizedModule" and isinstance(inner, nn.Module):
        return "_orig_mod", inner
    return None


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside ``torch.compile``, ``DataParallel`` and ``DistributedDataParallel`` wrappers.

    Returns ``model`` itself when it is not wrapped.

    Example:
        >>> unwrap_model(nn.DataParallel(nn.Linear(2, 2))).__class__.__name__
        'Linear'
    """
    found = _wrapped_child(model)
    while found is not None:
        model = found[1]
        found = _wrapped_child(model)
    return model


def find_layer_name(model: nn.Module, layer: str) -> str:
    """The dotted name under which ``model`` holds ``layer``, seeing through model wrappers.

    ``layer`` is looked up as given first; otherwise the wrapper parts of the names
    (``_orig_mod`` of ``torch.compile``, ``module`` of ``DataParallel``/``DistributedDataParallel``)
    are ignored, so ``"model.layer4"`` finds ``"model._orig_mod.layer4"`` or
    ``"model.module.layer4"``.

    Args:
        model: the module to search.
        layer: a dotted submodule name, e.g. ``"model.layer4"``.

    Returns:
        The dotted name that `torch.nn.Module.get_submodule` resolves in ``model``.

    Raises:
        ValueError: no submodule of ``model`` has that name, with or without wrappers (the message
            lists a few names that exist).

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2))
        >>> find_layer_name(nn.Sequential(nn.DataParallel(net)), "0.0")
        '0.module.0'
    """
    found = match_layer_name(model, layer)
    if found is not None:
        return found
    names = dict(model.named_modules())
    shown = ", ".join(_without_wrappers(n, names) for n in list(names)[1:13])
    raise ValueError(
        f"layer {layer!r} not found in {type(model).__name__} (also looked through torch.compile "
        f"and DataParallel wrappers); some of its layers: {shown}"
    )


def match_layer_name(model: nn.Module, layer: str) -> str | None:
    """[`find_layer_name`][videoattr.zoo.find_layer_name], or ``None`` when ``model`` has no such layer."""
    names: dict[str, nn.Module] = dict(model.named_modules())
    if layer in names:
        return layer
    for name in names:
        if _without_wrappers(name, names) == layer:
            return str(name)
    return None


def _without_wrappers(name: str, modules: Mapping[str, nn.Module]) -> str:
    parts = name.split(".") if name else []
    kept: list[str] = []
    prefix = ""
    for part in parts:
        parent = modules.get(prefix)
        wrapped = _wrapped_child(parent) if parent is not None else None
        if wrapped is None or wrapped[0] != part:
            kept.append(part)
        prefix = f"{prefix}.{part}" if prefix else part
    return ".".join(kept)
