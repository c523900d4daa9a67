"""Griffe extension for the API reference: show each class's real constructor defaults.

Some classes share one constructor whose keyword arguments default to ``None``, meaning "the
class's own default", and keep those defaults in a class attribute ``defaults`` (a dataclass
instance; e.g. the extremal perturbation methods' ``PerturbationSettings``). Read statically, every
such class would show ``None`` for every argument. For each documented class this extension imports
the class, and where a constructor argument defaults to ``None`` while ``cls.defaults`` has a field
of that name with a value other than ``None``, it gives the class its own copy of the constructor
signature with that value as the default. A class that documents no arguments of its own also gets
the ``Args:`` section of the class that defines the constructor, so its page lists every argument.

Nothing here names a particular class: any class with a dataclass ``defaults`` attribute and
``None`` defaults benefits, and a class without them is left as it is.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Any

import griffe

_ARGS = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")


def _args_block(text: str) -> str | None:
    """The ``Args:`` section of a docstring, heading included, or ``None``."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = _ARGS.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        block = [line]
        for nxt in lines[i + 1 :]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            block.append(nxt)
        return "\n".join(block).rstrip()
    return None


def _runtime(cls: griffe.Class) -> Any:
    try:
        module = importlib.import_module(cls.module.path)
    except Exception:  # a module that cannot be imported keeps its static view
        return None
    return getattr(module, cls.name, None)


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    found: list[griffe.Class] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            found.append(member)
        if isinstance(member, griffe.Module):
            found.extend(_classes(member))
    return found


def _constructor(cls: griffe.Class) -> griffe.Function | None:
    """The ``__init__`` a class uses, its own or inherited (resolved now, before any copy)."""
    init = cls.all_members.get("__init__")
    if isinstance(init, griffe.Alias):  # inherited members are aliases of the base's
        try:
            init = init.final_target
        except griffe.AliasResolutionError:
            return None
    return init if isinstance(init, griffe.Function) else None


class RealDefaults(griffe.Extension):
    """Replace ``None`` constructor defaults by the values in the class's ``defaults``."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Visit every class of the package once it is loaded."""
        classes = _classes(pkg)
        # The constructors as written, looked up before any class gets its own copy.
        inits = {cls.path: _constructor(cls) for cls in classes}
        for cls in classes:
            init = inits[cls.path]
            if init is not None:
                self._apply(cls, init)

    def _apply(self, cls: griffe.Class, init: griffe.Function) -> None:
        runtime = _runtime(cls)
        settings = getattr(runtime, "defaults", None)
        if runtime is None or not dataclasses.is_dataclass(settings) or isinstance(settings, type):
            return
        fields = {f.name for f in dataclasses.fields(settings)}
        changed = False
        params = []
        for p in init.parameters:
            default = p.default
            value = getattr(settings, p.name, None) if p.name in fields else None
            if str(default) == "None" and value is not None:
                default, changed = repr(value), True
            params.append(
                griffe.Parameter(p.name, annotation=p.annotation, kind=p.kind, default=default)
            )
        if not changed:
            return
        own = griffe.Function(
            "__init__",
            parameters=griffe.Parameters(*params),
            returns=init.returns,
            lineno=init.lineno,
            endlineno=init.endlineno,
            docstring=init.docstring,
        )
        cls.set_member("__init__", own)
        for cached in ("all_members", "inherited_members"):  # computed before the copy existed
            cls.__dict__.pop(cached, None)
        self._inherit_args(cls, init)

    @staticmethod
    def _inherit_args(cls: griffe.Class, init: griffe.Function) -> None:
        owner = init.parent
        if cls.docstring is None or owner is cls or not isinstance(owner, griffe.Class):
            return
        if _args_block(cls.docstring.value) is not None or owner.docstring is None:
            return
        block = _args_block(owner.docstring.value)
        if block is None:
            return
        cls.docstring.value = cls.docstring.value.rstrip() + "\n\n" + block
        cls.docstring.__dict__.pop("parsed", None)
