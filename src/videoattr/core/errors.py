"""Errors that know which argument they are about and which settings would fix them.

A library message names its arguments as Python does (``pass download=True``); the command line
names the same arguments as options (``pass --download``). Rather than rewrite one message into
the other, an [`ArgumentError`][videoattr.core.errors.ArgumentError] keeps its advice as data: the
text, with each suggested [`Setting`][videoattr.core.errors.Setting] as a part of its own, and the
argument the error is about. ``str(err)`` spells the settings the Python way;
``err.words(spell)`` spells them as the caller's interface does.

Names of arguments in a message are data too: a [`Names`][videoattr.core.errors.Names] part reads
``['lr', 'steps']`` in Python and ``--lr, --steps`` on a command line
([`OptionError`][videoattr.core.errors.OptionError]: a method's options named wrongly).

Example:
    >>> err = ArgumentValueError("no weights to download; ", Setting("download", "False"),
    ...                          argument="download")
    >>> str(err)
    'no weights to download; pass download=False'
    >>> err.words(lambda s: f"leave out --{s.name}")
    'no weights to download; leave out --download'
    >>> err = OptionError("method 'saliency' does not take ", Names(("layer",)), method="saliency",
    ...                   names=("layer",), known=("polarity",))
    >>> print(err)
    method 'saliency' does not take ['layer']
    >>> print(err.words(name=lambda n: f"--{n}"))
    method 'saliency' does not take --layer
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ArgumentError",
    "ArgumentFileNotFoundError",
    "ArgumentValueError",
    "Names",
    "OptionError",
    "Setting",
    "python_names",
    "python_words",
]


@dataclass(frozen=True)
class Setting:
    """The advice to set argument ``name`` to ``value``.

    Attributes:
        name: the argument as the Python API names it (``"weights"``, ``"download"``).
        value: the value as Python source (``"True"``, ``"None"``, ``"'DIR'"``, a placeholder in
            quotes for a value the user chooses).
    """

    name: str
    value: str


def python_words(setting: Setting) -> str:
    """``"pass name=value"``: a setting in the words of the Python API."""
    return f"pass {setting.name}={setting.value}"


@dataclass(frozen=True)
class Names:
    """Argument names in a message, as the Python API names them.

    Attributes:
        names: the names, in the order the message gives them.
        listed: Python spells them as a list (``['a', 'b']``, default) or bare (``'a', 'b'``).
    """

    names: tuple[str, ...]
    listed: bool = True


def python_names(names: Names) -> str:
    """``"['a', 'b']"`` (or ``"'a', 'b'"``): names in the words of the Python API."""
    bare = ", ".join(map(repr, names.names))
    return f"[{bare}]" if names.listed else bare


class ArgumentError(Exception):
    """An error about argument ``argument`` whose message suggests settings (see the module).

    Args:
        *parts: the message: text, the [`Setting`][videoattr.core.errors.Setting]s it suggests
            and the [`Names`][videoattr.core.errors.Names] of arguments, where they belong in it.
        argument: the argument the error is about (as the Python API names it), or ``None``.

    Attributes:
        parts: the ``parts`` given.
        argument: the ``argument`` given.
    """

    def __init__(self, *parts: str | Setting | Names, argument: str | None = None) -> None:
        self.parts = parts
        self.argument = argument
        super().__init__(self.words())

    def words(
        self,
        spell: Callable[[Setting], str] = python_words,
        name: Callable[[str], str] | None = None,
    ) -> str:
        """The message with each suggested setting spelled by ``spell`` and each argument name by
        ``name`` (a ``Names`` part becomes the names so spelled, joined by ``", "``); by default
        both the Python way."""

        def say(part: str | Setting | Names) -> str:
            if isinstance(part, str):
                return part
            if isinstance(part, Setting):
                return spell(part)
            return python_names(part) if name is None else ", ".join(map(name, part.names))

        return "".join(say(p) for p in self.parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.parts, self.argument))


def _rebuild(
    cls: type[ArgumentError],
    parts: tuple[str | Setting | Names, ...],
    argument: str | None,
    extra: dict[str, Any] | None = None,
) -> ArgumentError:
    return cls(*parts, argument=argument, **(extra or {}))


class ArgumentValueError(ArgumentError, ValueError):
    """An [`ArgumentError`][videoattr.core.errors.ArgumentError] that is a ``ValueError``."""


class ArgumentFileNotFoundError(ArgumentError, FileNotFoundError):
    """An [`ArgumentError`][videoattr.core.errors.ArgumentError] that is a ``FileNotFoundError``
    (a file named by the argument does not exist)."""


class OptionError(ArgumentError, TypeError):
    """A method's options named wrongly: an option it does not take, one it needs that is missing,
    or one it fixes itself. A ``TypeError``, as Python raises for an unexpected keyword.

    Args:
        *parts: the message (see [`ArgumentError`][videoattr.core.errors.ArgumentError]); the
            option names in it are [`Names`][videoattr.core.errors.Names] parts.
        method: the method's name.
        names: the options at fault (as the Python API names them).
        known: every option the method takes, or ``None`` when not listed.

    Attributes:
        method, names, known: as given (``names`` and ``known`` as tuples); ``argument`` is the
            first of ``names``.
    """

    def __init__(
        self,
        *parts: str | Setting | Names,
        method: str,
        names: Sequence[str],
        known: Sequence[str] | None = None,
        argument: str | None = None,
    ) -> None:
        self.method = method
        self.names = tuple(names)
        self.known = None if known is None else tuple(known)
        super().__init__(*parts, argument=argument or (self.names[0] if self.names else None))

    def __reduce__(self) -> tuple[Any, ...]:
        extra = {"method": self.method, "names": self.names, "known": self.known}
        return (_rebuild, (type(self), self.parts, self.argument, extra))
