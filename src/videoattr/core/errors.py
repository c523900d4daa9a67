"""Errors that know which argument they are about and which settings would fix them.

A library message names its arguments as Python does (``pass download=True``); the command line
names the same arguments as options (``pass --download``). Rather than rewrite one message into
the other, an [`ArgumentError`][videoattr.core.errors.ArgumentError] keeps its advice as data: the
text, with each suggested [`Setting`][videoattr.core.errors.Setting] as a part of its own, and the
argument the error is about. ``str(err)`` spells the settings the Python way;
``err.words(spell)`` spells them as the caller's interface does.

Example:
    >>> err = ArgumentValueError("no weights to download; ", Setting("download", "False"),
    ...                          argument="download")
    >>> str(err)
    'no weights to download; pass download=False'
    >>> err.words(lambda s: f"leave out --{s.name}")
    'no weights to download; leave out --download'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ArgumentError",
    "ArgumentFileNotFoundError",
    "ArgumentValueError",
    "Setting",
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


class ArgumentError(Exception):
    """An error about argument ``argument`` whose message suggests settings (see the module).

    Args:
        *parts: the message: text, and the [`Setting`][videoattr.core.errors.Setting]s it suggests
            where they belong in it.
        argument: the argument the error is about (as the Python API names it), or ``None``.

    Attributes:
        parts: the ``parts`` given.
        argument: the ``argument`` given.
    """

    def __init__(self, *parts: str | Setting, argument: str | None = None) -> None:
        self.parts = parts
        self.argument = argument
        super().__init__(self.words(python_words))

    def words(self, spell: Callable[[Setting], str] = python_words) -> str:
        """The message with each suggested setting spelled by ``spell`` (default: the Python way)."""
        return "".join(p if isinstance(p, str) else spell(p) for p in self.parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.parts, self.argument))


def _rebuild(
    cls: type[ArgumentError], parts: tuple[str | Setting, ...], argument: str | None
) -> ArgumentError:
    return cls(*parts, argument=argument)


class ArgumentValueError(ArgumentError, ValueError):
    """An [`ArgumentError`][videoattr.core.errors.ArgumentError] that is a ``ValueError``."""


class ArgumentFileNotFoundError(ArgumentError, FileNotFoundError):
    """An [`ArgumentError`][videoattr.core.errors.ArgumentError] that is a ``FileNotFoundError``
    (a file named by the argument does not exist)."""
