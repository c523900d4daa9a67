"""Attribution methods by name: one canonical name per method, and the aliases people type.

Every method registers itself in its own module with [`register_method`][videoattr.methods.registry.register_method] (importing
`videoattr.methods` registers all built-in ones). A registered method has a canonical name
(``saliency``, ``input_x_gradient``, ``integrated_gradients``, ``smoothgrad``, ``grad_cam``, ``ep2d``,
``ep3d``, ``step``) and aliases: the reference implementation's command-line names (``grad``,
``grad*input``, ``integrated_grad``, ``smooth_grad``, ``2d_ep``, ``3d_ep``), the API's class names
(``Saliency``, ``GradCAM3D``, ...) and common ones (``gradcam``, ``ig``, ...). Names are matched
case-insensitively, with ``-``, ``_`` and spaces equivalent. Results record the canonical name.

Example:
    >>> import torch
    >>> from videoattr.methods import build_attributor, resolve_method
    >>> resolve_method("Grad-CAM")
    'grad_cam'
    >>> ig = build_attributor("ig", torch.nn.Linear(3, 2), steps=50)
    >>> ig.config()["method"], ig.config()["steps"]
    ('integrated_gradients', 50)

Adding a method: write its module (an [`Attributor`][videoattr.core.base.Attributor] subclass) and call
[`register_method`][videoattr.methods.registry.register_method] at the end of it; the command line, the dataset runner and the cross-method tests
pick it up from [`method_names`][videoattr.methods.registry.method_names].
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from videoattr.core.base import Attributor
from videoattr.core.errors import Names, OptionError
from videoattr.core.validation import check_choice, normalize_name

Kind = Literal["gradient", "cam", "perturbation", "black_box", "attention"]
KINDS: tuple[str, ...] = ("gradient", "cam", "perturbation", "black_box", "attention")
Factory = Callable[..., Attributor]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method.

    Attributes:
        name: the canonical name.
        factory: ``factory(model, **options) -> Attributor`` (usually the attributor class).
        kind: ``"gradient"``, ``"cam"``, ``"perturbation"``, ``"black_box"`` or ``"attention"``.
        summary: one line for listings (``--help``, docs tables).
        aliases: the other names that resolve to ``name``.
        fixed: options the registry always passes to ``factory`` (``input_x_gradient`` is ``Saliency``
            with ``multiply_by_inputs=True``); callers cannot override them.
    """

    name: str
    factory: Factory
    kind: Kind
    summary: str
    aliases: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def option_names(self) -> tuple[str, ...] | None:
        """The options ``factory`` accepts after the model (``None`` when it takes any ``**kwargs``)."""
        params = list(_signature(self.factory).parameters.values())[1:]
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return tuple(
            p.name for p in params if p.kind is not p.VAR_POSITIONAL and p.name not in self.fixed
        )

    def defaults(self) -> dict[str, Any]:
        """The default of every option that has one (what the command line should show and use).

        Example:
            >>> method_info("ig").defaults()["steps"]
            25
        """
        params = list(_signature(self.factory).parameters.values())[1:]
        return {
            p.name: p.default
            for p in params
            if p.default is not p.empty and p.name not in self.fixed
        }

    def required_options(self) -> tuple[str, ...]:
        """Options without a default (e.g. Grad-CAM's ``layer``)."""
        params = list(_signature(self.factory).parameters.values())[1:]
        return tuple(
            p.name
            for p in params
            if p.default is p.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            and p.name not in self.fixed
        )


_REGISTRY: dict[str, MethodInfo] = {}
_ALIASES: dict[str, str] = {}


def _signature(factory: Factory) -> inspect.Signature:
    """The call signature of ``factory`` (for a class: its constructor's, without ``self``)."""
    return inspect.signature(factory)


def register_method(
    name: str,
    factory: Factory,
    *,
    aliases: Sequence[str] = (),
    kind: Kind = "gradient",
    summary: str = "",
    fixed: Mapping[str, Any] | None = None,
) -> MethodInfo:
    """Register an attribution method under a canonical ``name`` (lower case, ``[a-z0-9_]``).

    Args:
        name: the canonical name results record.
        factory: ``factory(model, **options) -> Attributor``, usually the attributor class. When it is a
            class that does not set ``method_name`` itself (also a subclass of a registered method),
            ``name`` becomes its ``method_name``.
        aliases: other names that resolve to ``name`` (matched like names, see [`normalize_name`][videoattr.core.validation.normalize_name]).
        kind: ``"gradient"``, ``"cam"``, ``"perturbation"`` (perturbation methods return one mask per
            area) or ``"black_box"`` (forward-only methods such as occlusion and RISE, which return
            ``(B, 1, T, H, W)`` maps like the gradient methods) or ``"attention"`` (methods that read a
            transformer's attention through its [`AttentionLayout`][videoattr.core.attention.AttentionLayout]).
        summary: one line for listings.
        fixed: options always passed to ``factory``.

    Returns:
        The registered [`MethodInfo`][videoattr.methods.registry.MethodInfo].

    Raises:
        ValueError: ``name`` is not canonical, or ``name`` or an alias is already taken by another method.
    """
    if normalize_name(name) != name or not name.replace("_", "").isalnum():
        raise ValueError(f"name must be lower case letters, digits and '_'; got {name!r}")
    check_choice(kind, "kind", KINDS)
    if not callable(factory):
        raise TypeError(f"factory must be callable; got {factory!r}")
    keys = [name, *(normalize_name(a) for a in aliases)]
    for key in keys:
        owner = _ALIASES.get(key)
        if owner is not None and owner != name:
            raise ValueError(f"method name {key!r} is already registered for {owner!r}")
    if name in _REGISTRY:
        raise ValueError(f"method {name!r} is already registered")
    info = MethodInfo(name, factory, kind, summary, tuple(aliases), dict(fixed or {}))
    _REGISTRY[name] = info
    for key in keys:
        _ALIASES[key] = name
    if (
        isinstance(factory, type)
        and issubclass(factory, Attributor)
        and "method_name" not in vars(factory)  # a subclass's own name, not its base's
    ):
        factory.method_name = name
    return info


def unregister_method(name: str) -> None:
    """Remove a registered method and its aliases (for tests and plugins that replace a method)."""
    canonical = resolve_method(name)
    del _REGISTRY[canonical]
    for key in [k for k, v in _ALIASES.items() if v == canonical]:
        del _ALIASES[key]


def resolve_method(name: str) -> str:
    """The canonical name of a method name or alias.

    Raises:
        ValueError: an unknown name; the message lists close matches.
        TypeError: ``name`` is not a string.

    Example:
        >>> resolve_method("grad*input")
        'input_x_gradient'
    """
    if not isinstance(name, str):
        raise TypeError(f"method must be a name (str); got {type(name).__name__} {name!r}")
    key = normalize_name(name)
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=5, cutoff=0.5)
    hint = f"; did you mean {sorted({_ALIASES[c] for c in close} | set(close))}?" if close else ""
    raise ValueError(
        f"method {name!r} is not a registered method (choose from {list(_REGISTRY)}){hint}"
    )


def method_names(kind: Kind | None = None) -> tuple[str, ...]:
    """Canonical names of the registered methods in registration order (only ``kind`` if given)."""
    return tuple(n for n, info in _REGISTRY.items() if kind is None or info.kind == kind)


def method_aliases() -> dict[str, str]:
    """Every accepted name (normalised, canonical names included) mapped to its canonical name."""
    return dict(_ALIASES)


def method_info(name: str) -> MethodInfo:
    """The [`MethodInfo`][videoattr.methods.registry.MethodInfo] of a method name or alias."""
    return _REGISTRY[resolve_method(name)]


def build_attributor(name: str, model: nn.Module, **options: Any) -> Attributor:
    """Build the method called ``name`` (canonical or alias) for ``model`` with ``options``.

    Args:
        name: a method name or alias (see [`method_aliases`][videoattr.methods.registry.method_aliases]).
        model: the video classifier.
        **options: the method's constructor options (``max_batch_size``, ``polarity``, ``steps``,
            ``layer``, ...). Options the method does not take are an error, never ignored.

    Raises:
        ValueError: an unknown method name.
        OptionError: (a ``TypeError``) options the method does not take or fixes itself, or a
            required option missing; the names are data (``err.names``, ``err.known``).

    Example:
        >>> import torch
        >>> sg = build_attributor("smooth_grad", torch.nn.Linear(3, 2), n=10)
        >>> sg.config()["attributor"]["method"]
        'saliency'
    """
    info = method_info(name)
    accepted = info.option_names()
    known = None if accepted is None else sorted(accepted)
    clash = sorted(set(options) & set(info.fixed))
    if clash:
        raise OptionError(
            f"method {info.name!r} fixes the option(s) ", Names(tuple(clash)),
            "; they cannot be given", method=info.name, names=clash, known=known,
        )  # fmt: skip
    if known is not None:
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise OptionError(
                f"method {info.name!r} does not take the option(s) ", Names(tuple(unknown)),
                "; it takes ", Names(tuple(known)), method=info.name, names=unknown, known=known,
            )  # fmt: skip
    missing = [o for o in info.required_options() if o not in options]
    if missing:
        raise OptionError(
            f"method {info.name!r} needs the option(s) ", Names(tuple(missing)),
            method=info.name, names=missing, known=known,
        )  # fmt: skip
    return info.factory(model, **info.fixed, **options)
