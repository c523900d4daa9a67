"""Methods as the pipeline runs them: a name, an attributor or a function, reduced to one call.

[`as_method`][videoattr.pipeline.methods.as_method] builds a [`Method`][videoattr.pipeline.methods.Method] from
a registered name (with the options a zoo adapter supplies, [`model_options`][videoattr.pipeline.methods.model_options]),
an attributor, or a plain function; [`method_config`][videoattr.pipeline.methods.method_config] is the record
results carry.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.targets import Target
from videoattr.core.validation import check_areas, describe
from videoattr.methods.extremal.attributors import ExtremalPerturbationBase
from videoattr.methods.registry import (
    build_attributor,
    method_info,
    method_names,
    resolve_method,
)

#: ``fn(x (B, C, T, H, W), target, keys list[str] | None) -> maps``: ``target`` is any
#: [`Target`][videoattr.core.targets.Target] (the pipeline passes the chosen classes, a ``(B,)``
#: tensor, or ``(B, K)`` for several per clip); the maps are ``(B, A, T, H, W)``, or
#: ``(B, K, A, T, H, W)`` for several classes per clip.
MethodFn = Callable[[Tensor, Target, "list[str] | None"], Tensor]
#: ``attribute(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``: a plain callable method.
AttributeFn = Callable[[Tensor, list[int]], Tensor]
#: ``scored(x (B, C, T, H, W), target) -> (masks (B, A, T, H, W), preserved (B, A))``: a
#: perturbation method's masks with the target's probability on each preserved clip, as the method
#: computed it.
ScoredFn = Callable[[Tensor, Target], "tuple[Tensor, Tensor]"]
#: What [`as_method`][videoattr.pipeline.as_method] accepts.
AttributorLike = str | Attributor | AttributeFn

#: The area of a perturbation method when none is given (the paper's).
DEFAULT_AREAS: tuple[float, ...] = (0.1,)


@dataclass
class Method:
    """A method reduced to what explaining clips needs.

    Attributes:
        name: the method's canonical registered name (what results record).
        fn: ``(x (B, C, T, H, W), target, keys) -> maps`` (see `MethodFn`); ``keys`` are the
            clips' ids (SmoothGrad seeds each clip's noise with its key, so a clip gets the same
            noise in any batch), or ``None`` for positions in the call.
        config: the method's complete configuration (its ``config()``), what a resume compares.
        attributor: the attributor, when there is one.
        areas: the perturbation areas (empty for the other methods).
        kind: ``"gradient"``, ``"cam"``, ``"perturbation"`` or ``"callable"``.
        scored: for the extremal perturbation methods, ``(x, target) -> (masks, preserved)`` (see
            `ScoredFn`): the masks with the probabilities the optimisation already computed, so
            that explaining needs no forward of its own for them; ``None`` for other methods.
    """

    name: str
    fn: MethodFn
    config: dict[str, Any]
    attributor: Attributor | None = None
    areas: tuple[float, ...] = ()
    kind: str = "gradient"
    scored: ScoredFn | None = None

    @property
    def is_perturbation(self) -> bool:
        """Whether the maps are perturbation masks (one per area)."""
        return self.kind == "perturbation"


def model_options(name: str, model: nn.Module) -> dict[str, Any]:
    """The options a method takes from a zoo adapter (the ones it accepts).

    Grad-CAM gets the adapter's ``layer`` and ``reshape``; Integrated Gradients starts from the
    normalised black clip when the adapter has ``mean`` and ``std`` (the reference implementation's
    baseline). Nothing else: every other option keeps the method's default (a method's progress
    bar too: pass ``progress=False`` in the options to hide it).

    Args:
        name: a registered method name or alias.
        model: the classifier (a zoo adapter has ``layer``, ``reshape``, ``mean``, ``std``).
    """
    info = method_info(name)
    found: dict[str, Any] = {}
    if info.kind == "cam" and getattr(model, "layer", None) is not None:
        found["layer"] = model.layer
        found["reshape"] = getattr(model, "reshape", None)
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    if info.name == "integrated_gradients" and mean is not None and std is not None:
        found.update(baseline="black", mean=mean, std=std)
    accepted = info.option_names()
    return {k: v for k, v in found.items() if accepted is None or k in accepted}


def as_method(
    attributor: AttributorLike,
    model: nn.Module,
    options: Mapping[str, Any] | None = None,
    *,
    areas: Sequence[float] | None = None,
) -> Method:
    """Turn a method name, an [`Attributor`][videoattr.core.base.Attributor] or a callable into a [`Method`][videoattr.pipeline.Method].

    Args:
        attributor: a registered method name or alias (built for ``model`` with
            `model_options` and ``options``), an [`Attributor`][videoattr.core.base.Attributor], or a
            callable ``(x, targets) -> (B, A, T, H, W)``.
        model: the classifier.
        options: the method's options when it is given by name (see
            [`build_attributor`][videoattr.methods.registry.build_attributor]). Default none.
        areas: the areas of a perturbation method. Default: the attributor's own ``areas``, else
            ``(0.1,)``.

    Raises:
        TypeError: ``options`` with an already built method, or an unsupported ``attributor``.
        ValueError: an unknown method name or areas outside ``(0, 1)``.
    """
    if isinstance(attributor, str):
        name = resolve_method(attributor)
        attributor = build_attributor(
            name, model, **{**model_options(name, model), **(options or {})}
        )
    elif options:
        raise TypeError("options apply to a method given by name; the attributor is already built")
    if isinstance(attributor, Attributor):
        return _attributor_method(attributor, areas)
    if callable(attributor):
        fn = attributor
        name = str(getattr(fn, "__name__", type(fn).__name__))
        return Method(name=name, fn=_per_class(fn), config={"callable": name}, kind="callable")
    raise TypeError(
        "attributor must be a method name, an Attributor or a callable (x, targets) -> maps; got "
        f"{describe(attributor)}"
    )


def _per_class(fn: AttributeFn) -> MethodFn:
    """A plain callable ``(x, targets list[int]) -> maps`` as a `MethodFn`: called once per class
    when a ``(B, K)`` target asks for several classes per clip."""

    def call(x: Tensor, target: Target, _keys: list[str] | None) -> Tensor:
        if isinstance(target, Tensor) and target.dim() == 2:
            return torch.stack([fn(x, column.tolist()) for column in target.T], dim=1)
        if isinstance(target, Tensor):
            return fn(x, target.reshape(-1).tolist())
        if isinstance(target, int):
            return fn(x, [target] * x.shape[0])
        if isinstance(target, Sequence) and not isinstance(target, str):
            return fn(x, [int(t) for t in target])
        raise TypeError(
            f"a plain callable method takes one class index per clip; got target {describe(target)}"
        )

    return call


def _attributor_method(att: Attributor, areas: Sequence[float] | None) -> Method:
    name = att.method
    kind = method_info(name).kind if name in method_names() else "gradient"
    takes_keys = "keys" in inspect.signature(att.attribute).parameters
    config = method_config(att)
    if kind == "perturbation":
        own = getattr(att, "areas", None)  # perturbation methods take areas in the constructor
        default = tuple(own) if isinstance(own, (tuple, list)) and own else DEFAULT_AREAS
        chosen = tuple(check_areas(list(default if areas is None else areas)))

        def perturb(x: Tensor, t: Target, _keys: list[str] | None) -> Tensor:
            out: Tensor = att.attribute(x, t, areas=list(chosen))
            return out

        scored: ScoredFn | None = None
        if isinstance(att, ExtremalPerturbationBase):
            engine = att

            def optimise(x: Tensor, t: Target) -> tuple[Tensor, Tensor]:
                result = engine.optimize(x, t, areas=list(chosen))
                return result.masks, result.preserved_probability

            scored = optimise

        return Method(name, perturb, config, att, chosen, kind, scored)
    if areas is not None:
        raise ValueError(f"areas apply to perturbation methods; {name!r} is a {kind} method")

    def attribute(x: Tensor, t: Target, keys: list[str] | None) -> Tensor:
        out: Tensor = att.attribute(x, t, keys=keys) if takes_keys and keys else att.attribute(x, t)
        return out

    return Method(name, attribute, config, att, (), kind)


def method_config(obj: Any) -> dict[str, Any]:
    """The settings of an attributor as plain JSON values (its ``config()`` when it has one).

    Wrapped attributors (SmoothGrad's inner method) are recorded nested under their attribute name.
    """
    config = getattr(obj, "config", None)
    if callable(config):
        out = config()
        if isinstance(out, dict):
            plain: dict[str, Any] = json.loads(json.dumps(out, default=str))
            return plain
    record: dict[str, Any] = {"class": type(obj).__name__}
    settings = getattr(obj, "settings", None)
    if settings is not None and hasattr(settings, "__dataclass_fields__"):
        items = asdict(settings).items()
    else:
        items = vars(obj).items()
    for k, v in items:
        if k in ("model", "settings"):
            continue
        if isinstance(v, (int, float, str, bool, type(None))):
            record[k] = v
        elif isinstance(v, Attributor):
            record[k] = method_config(v)
        elif isinstance(v, nn.Module):
            record[k] = _module_name(obj, v)
        elif isinstance(v, (tuple, list)) and all(isinstance(e, (int, float, str)) for e in v):
            record[k] = list(v)
        elif isinstance(v, Tensor):
            record[k] = f"tensor{tuple(v.shape)}"
        elif callable(v):  # a name, never a repr with a memory address (it must repeat)
            record[k] = str(getattr(v, "__qualname__", type(v).__name__))
        else:
            record[k] = type(v).__name__
    if isinstance(getattr(obj, "max_batch_size", None), (int, type(None))):
        record.setdefault("max_batch_size", obj.max_batch_size)
    return record


def _module_name(owner: Any, module: nn.Module) -> str:
    model = getattr(owner, "model", None)
    if isinstance(model, nn.Module):
        for name, m in model.named_modules():
            if m is module:
                return name or "<model>"
    return type(module).__name__
