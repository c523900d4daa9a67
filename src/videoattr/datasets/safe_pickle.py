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
            return _safe_reconstruct if name == "_reconstruct" else _safe_scalar
        if module == "numpy":
            # Never numpy's own: `numpy.ndarray(shape, "O", buffer=...)` reads raw bytes as object
            # pointers, and a pickled dtype state can give a plain dtype object fields.
            return _NdarrayName if name == "ndarray" else _DtypeSpec
        if module == "_codecs":
            return _latin1_encode
        return getattr(__import__("builtins"), name)


#: dtype kinds an annotation array may have: booleans, numbers, byte and text strings.
_PLAIN_KINDS = frozenset("biufcSU")


class _NdarrayName:
    """What ``numpy.ndarray`` resolves to: accepted only as `_safe_reconstruct`'s subtype."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RefusedGlobal("refusing to call numpy.ndarray from a pickle")


class _DtypeSpec:
    """What ``numpy.dtype(code, align, copy)`` resolves to: the code and byte order, nothing else.

    The pickled state of a dtype may set fields, a subarray and flags; a plain dtype given an
    object field that way makes numpy read raw bytes as object pointers. Only the code and the
    byte order are kept, and `dtype` builds a fresh dtype from them.
    """

    def __init__(self, code: object, align: object = False, copy: object = True) -> None:
        self.code = code
        self.byteorder: object = "="

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) >= 5 and state[2:5] == (None,) * 3):
            raise RefusedGlobal(f"refusing a dtype with subarray, names or fields: {state!r:.200}")
        self.byteorder = state[1]

    def dtype(self) -> np.dtype[Any]:
        """A fresh numpy dtype of this code; refuses object, void and structured dtypes."""
        if not isinstance(self.code, str) or self.byteorder not in ("<", ">", "=", "|"):
            raise RefusedGlobal(f"refusing dtype {self.code!r} (byte order {self.byteorder!r})")
        try:
            dtype = np.dtype(self.code)
        except TypeError as err:
            raise RefusedGlobal(f"refusing dtype {self.code!r}: {err}") from None
        if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype:
            raise RefusedGlobal(
                f"refusing dtype {self.code!r}: an annotation array holds booleans, numbers or "
                "strings, never objects"
            )
        return dtype.newbyteorder(self.byteorder) if self.byteorder in ("<", ">") else dtype


def _plain_dtype(spec: object) -> np.dtype[Any]:
    if not isinstance(spec, _DtypeSpec):
        raise RefusedGlobal(f"refusing {type(spec).__name__} where a dtype belongs")
    return spec.dtype()


class _CheckedArray(np.ndarray):
    """An array whose pickled state is built with a fresh plain dtype from raw bytes only."""

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) in (4, 5)):
            raise RefusedGlobal(f"refusing an array state of {type(state).__name__}")
        *head, raw = state
        if not isinstance(raw, (bytes, str)):  # str: a Python 2 byte string read as latin-1
            raise RefusedGlobal("refusing an array whose data is not a byte string")
        head[-2] = _plain_dtype(head[-2])
        super().__setstate__((*head, raw))


def _safe_reconstruct(subtype: object, shape: object, typecode: object) -> np.ndarray:
    """numpy's ``_reconstruct`` for plain arrays only (see `_CheckedArray`)."""
    if subtype is not _NdarrayName:
        raise RefusedGlobal(f"refusing to reconstruct {subtype!r}: only numpy.ndarray")
    return np.ndarray.__new__(_CheckedArray, (0,), np.uint8)


def _safe_scalar(spec: object, data: object = None) -> Any:
    """numpy's ``scalar`` for plain dtypes, from a byte string of exactly the item size."""
    dtype = _plain_dtype(spec)
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise RefusedGlobal(f"refusing a {dtype} scalar that is not {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype=dtype)[0].copy()


def _plain(obj: Any) -> Any:
    """``obj`` with every `_CheckedArray` turned back into a plain array (and refused proxies)."""
    if isinstance(obj, _CheckedArray):
        return obj.view(np.ndarray)
    if isinstance(obj, _DtypeSpec):
        return obj.dtype()
    if isinstance(obj, dict):
        return {_plain(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


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
        return _plain(_RestrictedUnpickler(file, source).load())
    except RefusedGlobal:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        RecursionError,
    ) as err:
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
