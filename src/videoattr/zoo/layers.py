"""Finding layers through model wrappers (``torch.compile``, ``DataParallel``, DDP).

``torch.compile`` keeps the network as ``_orig_mod`` and ``DataParallel`` /
``DistributedDataParallel`` as ``module``, so ``layer4`` of the network is ``_orig_mod.layer4`` or
``module.layer4`` of the wrapper. The lookup is the one every method uses
([`videoattr.core.hooks`][videoattr.core.hooks]: ``unwrap_model`` returns the network inside,
``match_layer_name`` sees through wrappers around a model or nested inside it, an adapter's
``model``); [`find_layer_name`][videoattr.zoo.find_layer_name] is that lookup with the zoo's error.
"""

from __future__ import annotations

from torch import nn

from videoattr.core.hooks import match_layer_name, name_without_wrappers, unwrap_model

__all__ = ["find_layer_name", "match_layer_name", "unwrap_model"]


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
    shown = ", ".join(name_without_wrappers(n, names) for n in list(names)[1:13])
    raise ValueError(
        f"layer {layer!r} not found in {type(model).__name__} (also looked through torch.compile "
        f"and DataParallel wrappers); some of its layers: {shown}"
    )
