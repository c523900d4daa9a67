"""Finding a layer by module or dotted name and capturing its output, with guaranteed hook removal."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from torch import Tensor, nn

from videoattr.core.validation import describe

LayerSpec: TypeAlias = str | nn.Module
Reshape = Callable[[Tensor], Tensor]


def wrapped_child(module: nn.Module) -> tuple[str, nn.Module] | None:
    """``(attribute, inner module)`` when ``module`` is a ``torch.compile``/``DataParallel``/DDP wrapper.

    ``torch.compile`` keeps the network as ``_orig_mod``, ``DataParallel`` and
    ``DistributedDataParallel`` as ``module``; ``None`` for any other module.
    """
    if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return "module", module.module
    inner = module.__dict__.get("_modules", {}).get("_orig_mod")
    if type(module).__name__ == "OptimizedModule" and isinstance(inner, nn.Module):
        return "_orig_mod", inner
    return None


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside ``torch.compile`` (``_orig_mod``) and ``DataParallel`` / DDP (``module``) wrappers.

    Wrappers nest (a compiled DDP model); every layer is reached the same way whatever wraps the model.
    """
    while (wrapped := wrapped_child(model)) is not None:
        model = wrapped[1]
    return model


def match_layer_name(model: nn.Module, layer: str) -> str | None:
    """The dotted name under which ``model`` holds ``layer``, seeing through wrappers; else ``None``.

    ``layer`` is looked up as given first; otherwise the wrapper parts of the names (``_orig_mod`` of
    ``torch.compile``, ``module`` of ``DataParallel``/``DistributedDataParallel``) are ignored, around
    the whole model or nested inside it, so ``"model.layer4"`` finds ``"model._orig_mod.layer4"``.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2))
        >>> match_layer_name(nn.Sequential(nn.DataParallel(net)), "0.0")
        '0.module.0'
    """
    names: dict[str, nn.Module] = dict(model.named_modules())
    if layer in names:
        return layer
    for name in names:
        if name_without_wrappers(name, names) == layer:
            return str(name)
    return None


def name_without_wrappers(name: str, modules: Mapping[str, nn.Module]) -> str:
    """A dotted name of ``modules`` (a model's ``named_modules()``) without its wrappers' parts."""
    parts = name.split(".") if name else []
    kept: list[str] = []
    prefix = ""
    for part in parts:
        parent = modules.get(prefix)
        wrapped = wrapped_child(parent) if parent is not None else None
        if wrapped is None or wrapped[0] != part:
            kept.append(part)
        prefix = f"{prefix}.{part}" if prefix else part
    return ".".join(kept)


def resolve_layer(model: nn.Module, layer: LayerSpec, name: str = "layer") -> nn.Module:
    """Return the sub-module of ``model`` given as a module or a dotted name (``"layer4"``, ``"blocks.4"``).

    Names are looked up in ``model`` as given and then without the parts of ``torch.compile``,
    ``DataParallel`` or ``DistributedDataParallel`` wrappers, around the model or inside it (so
    ``"layer4"`` finds ``_orig_mod.layer4`` and ``module.layer4``; see `match_layer_name`).

    Raises:
        ValueError: the name does not exist (the message lists close matches) or the module is not part
            of ``model``.
        TypeError: ``layer`` is neither a string nor a module.
    """
    modules = dict(model.named_modules())
    if isinstance(layer, str):
        found = match_layer_name(model, layer) if layer else None
        if found is not None:
            module: nn.Module = modules[found]
            return module
        names = [n for n in (name_without_wrappers(n, modules) for n in modules) if n]
        close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
        hint = f"; close matches: {close}" if close else f"; some layers: {names[:8]}"
        raise ValueError(f"{name} {layer!r} is not a sub-module of the model{hint}")
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in modules.values()):
            raise ValueError(
                f"{name} is a {type(layer).__name__} module that is not part of the model"
            )
        return layer
    raise TypeError(f"{name} must be a dotted module name or an nn.Module; got {describe(layer)}")


def layer_name(model: nn.Module, layer: LayerSpec) -> str:
    """The dotted name of ``layer`` in ``model`` without wrappers (``"layer4"``, never ``"_orig_mod.layer4"``).

    Raises:
        ValueError: ``layer`` is not part of ``model``.
    """
    module = resolve_layer(model, layer)
    modules = dict(model.named_modules())
    for n, m in modules.items():
        if m is module:
            return name_without_wrappers(n, modules)
    raise ValueError("layer is not part of the model")  # unreachable: resolve_layer checked it


def _first_tensor(output: Any) -> Tensor:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(
        f"the hooked layer must output a tensor (or a tuple starting with one); got {describe(output)}"
    )


@dataclass
class LayerCapture:
    """The outputs a hooked layer produced during the ``with`` block (one entry per forward call)."""

    outputs: list[Tensor] = field(default_factory=list)

    @property
    def output(self) -> Tensor:
        """The output of the last forward through the layer."""
        if not self.outputs:
            raise RuntimeError("the hooked layer was not called during the forward pass")
        return self.outputs[-1]


@contextmanager
def capture_layer(
    model: nn.Module, layer: LayerSpec, *, as_leaf: bool = False
) -> Iterator[LayerCapture]:
    """Record the output of ``layer`` on every forward inside the block; the hook is always removed.

    The recorded tensors stay in the autograd graph, so ``torch.autograd.grad(score, capture.output)``
    gives the gradient with respect to the layer's output without backward hooks. Nothing is stored on
    the module or globally, so two calls can never see each other's activations.

    Args:
        model: the model.
        layer: the module or its dotted name.
        as_leaf: record the output as a new autograd leaf that requires grad and feed a copy of it to the
            rest of the network, so no graph is built before the layer (the cheapest way to get
            gradients with respect to a layer: nothing upstream is stored or back-propagated). For a
            layer that outputs a tuple or list, its first element is the one captured and replaced.
    """
    module = resolve_layer(model, layer)
    capture = LayerCapture()

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        tensor = _first_tensor(output)
        if not as_leaf:
            capture.outputs.append(tensor)
            return None
        leaf = tensor.detach().requires_grad_(True)
        capture.outputs.append(leaf)
        if isinstance(output, Tensor):
            return leaf.clone()
        return type(output)([leaf.clone(), *output[1:]])

    handle = module.register_forward_hook(hook)
    try:
        yield capture
    finally:
        handle.remove()


@contextmanager
def capture_layers(
    model: nn.Module, layers: Sequence[LayerSpec], *, as_leaf: bool = False
) -> Iterator[list[LayerCapture]]:
    """Record the outputs of several layers during the block (one [`LayerCapture`][videoattr.core.hooks.LayerCapture] per layer, in order).

    Every hook is removed when the block ends, also after an exception.

    Args:
        model: the model.
        layers: the modules or their dotted names.
        as_leaf: like [`capture_layer`][videoattr.core.hooks.capture_layer]'s, for the *first* layer
            output produced in the block (nothing before it is stored or back-propagated); a later layer's
            output is recorded as it is when it already depends on an earlier one (so its gradient flows
            back through the earlier leaf), and becomes a new leaf otherwise (a parallel branch without
            parameters that require grad). Gradients with respect to every captured output are then
            available from one ``torch.autograd.grad`` call.
    """
    modules = [resolve_layer(model, layer) for layer in layers]
    captures = [LayerCapture() for _ in modules]
    state = {"leaves": 0}

    def make_hook(capture: LayerCapture) -> Callable[[nn.Module, Any, Any], Any]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            tensor = _first_tensor(output)
            if not as_leaf or (state["leaves"] > 0 and tensor.requires_grad):
                capture.outputs.append(tensor)
                return None
            state["leaves"] += 1
            leaf = tensor.detach().requires_grad_(True)
            capture.outputs.append(leaf)
            if isinstance(output, Tensor):
                return leaf.clone()
            return type(output)([leaf.clone(), *output[1:]])

        return hook

    handles = [
        m.register_forward_hook(make_hook(c)) for m, c in zip(modules, captures, strict=True)
    ]
    try:
        yield captures
    finally:
        for handle in handles:
            handle.remove()
