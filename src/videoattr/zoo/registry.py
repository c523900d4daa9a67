"""The zoo's registry: the entries [`load`][videoattr.zoo.load] builds, and how a model module adds one.

A model module (``videoattr/zoo/<family>.py``) defines a builder
``builder(weights=None, num_classes=None, **options) -> VideoAdapter`` and calls
``register(ZooEntry(name=..., builder=..., description=..., requires=..., weights=...))`` at import;
``videoattr/zoo/__init__.py`` imports the module so the entry exists when the zoo is imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from videoattr.core.errors import ArgumentValueError, Setting
from videoattr.core.validation import describe, normalize_name
from videoattr.zoo.adapter import VideoAdapter

__all__ = ["Builder", "ZooEntry", "available", "entries", "get_entry", "load", "register"]

Builder = Callable[..., VideoAdapter]


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo: how to build it and what it needs.

    Attributes:
        name: the name passed to [`load`][videoattr.zoo.load].
        builder: ``builder(weights=..., num_classes=..., **options) -> VideoAdapter``.
        description: one line on the architecture and input.
        requires: the packages it needs beyond the core (``()`` for none).
        weights: what ``weights=`` accepts and where the weights are published.
        aliases: other names [`load`][videoattr.zoo.load] accepts for it.
        downloads: whether ``load(..., download=True)`` can fetch its named weights. Default
            ``False``.

    Names and aliases are matched like method names: case-insensitively, with ``-`` and spaces
    read as ``_`` (see [`normalize_name`][videoattr.core.validation.normalize_name]).
    """

    name: str
    builder: Builder = field(repr=False)
    description: str
    requires: tuple[str, ...] = ()
    weights: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    downloads: bool = False

    def __str__(self) -> str:
        needs = ", ".join(self.requires) if self.requires else "core only"
        state = "" if self.installed() else " [not installed]"
        return f"{self.name}: {self.description} (needs: {needs}{state}; weights: {self.weights})"

    def installed(self) -> bool:
        """Whether the extra packages it needs can be imported."""
        for req in self.requires:
            if req in sys.modules:
                if sys.modules[req] is None:
                    return False
                continue
            try:
                if importlib.util.find_spec(req) is None:
                    return False
            except (ImportError, ValueError):
                return False
        return True


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry, *, replace: bool = False) -> ZooEntry:
    """Add ``entry`` to the zoo under its name and aliases.

    Args:
        entry: the model's entry.
        replace: replace the entries that already hold the name or an alias (every name of a
            replaced entry goes with it). Default ``False``: a name that is taken is refused, like
            [`register_method`][videoattr.methods.registry.register_method] refuses one.

    Returns:
        ``entry``.

    Raises:
        ValueError: the name or an alias is already registered and ``replace`` is false.
    """
    keys = list(dict.fromkeys(normalize_name(n) for n in (entry.name, *entry.aliases)))
    taken = {key: _REGISTRY[key].name for key in keys if key in _REGISTRY}
    if taken and not replace:
        key, owner = next(iter(taken.items()))
        raise ValueError(
            f"model name {key!r} is already registered for {owner!r}; pass replace=True to replace it"
        )
    for owner in set(taken.values()):
        for key in [k for k, e in _REGISTRY.items() if e.name == owner]:
            del _REGISTRY[key]
    for key in keys:
        _REGISTRY[key] = entry
    return entry


def entries() -> list[ZooEntry]:
    """All registered entries, once each, in registration order."""
    seen: dict[str, ZooEntry] = {}
    for entry in _REGISTRY.values():
        seen.setdefault(entry.name, entry)
    return list(seen.values())


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name`` (or an alias of it).

    Raises:
        ValueError: unknown name (the message lists the zoo).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {describe(name)}")
    key = normalize_name(name)
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {sorted(e.name for e in entries())}")
    return _REGISTRY[key]


def available() -> list[ZooEntry]:
    """Every model [`load`][videoattr.zoo.load] knows, with its description, extra packages and accepted weights.

    ``entry.installed()`` tells whether its extra packages are importable.
    """
    return entries()


def load(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    **options: Any,
) -> VideoAdapter:
    """Build the adapter of model ``name`` (see [`available`][videoattr.zoo.available]).

    Args:
        name: e.g. ``"r2plus1d_18"``, ``"tsm"``, ``"i3d"``, ``"videomae"``, ``"demo"``.
        weights: ``None`` for random weights, or a local weights file (or what the entry accepts:
            torchvision weight names, Hugging Face folders/ids).
        num_classes: classifier size for random weights; default the pretrained dataset's.
        **options: model-specific options (e.g. ``dataset=``/``head=`` for TSM, ``config=`` for the
            transformers, ``download=True`` to let torchvision or Hugging Face fetch named weights).

    Raises:
        ValueError: unknown name or weights that do not fit the architecture, or ``download=True``
            for a model without named weights to download (an
            [`ArgumentValueError`][videoattr.core.errors.ArgumentValueError] naming the argument).
        ImportError: the model needs an extra that is not installed.
        FileNotFoundError: the weights file does not exist (the message says where they are published).
    """
    entry = get_entry(name)
    if options.get("download") and not entry.downloads:
        raise ArgumentValueError(
            f"model {entry.name!r} has no weights to download (its weights: {entry.weights}); ",
            Setting("download", "False"),
            argument="download",
        )
    if not entry.installed():
        raise ImportError(
            f"model {entry.name!r} needs {', '.join(entry.requires)}, which is not installed; "
            f"see videoattr.zoo.available()"
        )
    return entry.builder(weights=weights, num_classes=num_classes, **options)
