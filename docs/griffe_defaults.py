"""Griffe extension for the API reference: show each class's real constructor signature.

Some classes take part of their options as ``**kwargs`` and declare the full signature at run time
(``cls.__signature__``; e.g. the extremal perturbation methods, whose keywords are the fields of
their ``PerturbationSettings``, at each class's own defaults). Read statically, such a constructor
shows only ``**kwargs``. For each documented class this extension imports the class, and where the
class declares a ``__signature__`` of its own, it gives the class its own copy of the constructor
with the declared keywords (annotations and defaults as declared) in place of the ``**kwargs``. A
class that documents no arguments of its own also gets the ``Args:`` section of the class that
defines the constructor, so its page lists every argument.

Nothing here names a particular class: any class with a declared signature benefits, and a class
without one is left as it is.
"""

from __future__ import annotations

import importlib
import inspect
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
    """Replace a constructor's ``**kwargs`` by the keywords of the class's declared signature."""

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
        declared = vars(runtime).get("__signature__") if isinstance(runtime, type) else None
        if not isinstance(declared, inspect.Signature):
            return
        static = [p for p in init.parameters if p.kind is not griffe.ParameterKind.var_keyword]
        if len(static) == len(init.parameters):
            return  # no **kwargs: the source shows everything
        named = {p.name for p in static}
        runtime_defaults = {
            p.name: repr(p.default) for p in declared.parameters.values() if p.default is not p.empty
        }
        params = [  # the source's keywords, with the values their defaults have at runtime
            griffe.Parameter(
                p.name,
                annotation=p.annotation,
                kind=p.kind,
                default=runtime_defaults.get(p.name, p.default),
            )
            for p in static
        ]
        for p in declared.parameters.values():
            if p.name in named or p.kind is p.VAR_KEYWORD:
                continue
            annotation = p.annotation if p.annotation is not p.empty else None
            params.append(
                griffe.Parameter(
                    p.name,
                    annotation=None if annotation is None else str(annotation),
                    kind=griffe.ParameterKind.keyword_only,
                    default=None if p.default is p.empty else repr(p.default),
                )
            )
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
