"""Reading annotation pickles without running the code a pickle may carry.

A pickle can name any importable callable and have it called while loading (``os.system``, say),
so a downloaded annotation file must never be opened with ``pickle.load``. The published action
detection annotations (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``) hold only dicts, lists, tuples,
strings, numbers and numpy arrays; [`load_annotation_pickle`][videoattr.datasets.safe_pickle.load_annotation_pickle]
admits exactly those and refuses anything else by name, before it is imported. They were written
by Python 2: their byte strings are read as latin-1 text.

Example:
    >>> import io, pickle
    >>> data = pickle.dumps({"labels": ["a"], "boxes": np.zeros((1, 5))}, protocol=2)
    >>> sorted(read_annotation_pickle(io.BytesIO(data)))
    ['boxes', 'labels']
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["ALLOWED_GLOBALS", "RefusedGlobal", "load_annotation_pickle", "read_annotation_pickle"]

#: ``(module, name)`` pairs a pickle may name: what numpy arrays, dtypes and scalars are made of,
#: the sets (lists, dicts, tuples, strings and numbers need no name; Python 2 spelled
#: ``builtins`` as ``__builtin__``), and the latin-1 encoding of bytes that Python 3 writes.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        (core, name)
        for core in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    ]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
    + [
        (builtins, name)
        for builtins in ("builtins", "__builtin__")
        for name in ("set", "frozenset")
    ]
    + [("_codecs", "encode")]  # how Python 3 writes bytes at protocol 2 (latin-1 only)
)


def _numpy_multiarray() -> Any:
    """numpy's ``multiarray`` module under its current name (``numpy._core`` from numpy 2)."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1
        return importlib.import_module("numpy.core.multiarray")


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global that annotation files have no business naming."""


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS`."""

    def __init__(self, file: IO[bytes], source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedGlobal(
                f"{self.source}: refusing to load {module}.{name}: an annotation pickle may hold "
                "only numpy arrays and plain containers (a pickle naming anything else can run code)"
            )
        if module.startswith("numpy.") and module.endswith("multiarray"):
            return getattr(_numpy_multiarray(), name)
        if module == "numpy":
            return getattr(np, name)
        if module == "_codecs":
            return _latin1_encode
        return getattr(__import__("builtins"), name)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes at protocol 2, admitted for latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedGlobal(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def read_annotation_pickle(file: IO[bytes], *, source: str = "annotation pickle") -> Any:
    """Unpickle an open binary file, admitting only numpy arrays and plain containers.

    Args:
        file: a binary file object.
        source: how errors name the file.

    Raises:
        pickle.UnpicklingError: the pickle names a global outside
            `ALLOWED_GLOBALS` (nothing of it has
            been imported or called), or the data is not a pickle.
    """
    try:
        return _RestrictedUnpickler(file, source).load()
    except RefusedGlobal:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError) as err:
        raise pickle.UnpicklingError(
            f"{source}: not a readable annotation pickle ({type(err).__name__}: {err})"
        ) from None


def load_annotation_pickle(path: str | Path) -> Any:
    """Read an annotation pickle file safely (see the module docs).

    Args:
        path: the ``.pkl`` file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        pickle.UnpicklingError: it names anything but numpy arrays and plain containers, or is no
            pickle.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"annotation file {str(p)!r} does not exist")
    with open(p, "rb") as f:
        return read_annotation_pickle(f, source=str(p))
