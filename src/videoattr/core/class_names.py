"""Class names: which class an index, a class name or a label means (one rule everywhere)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from videoattr.core.validation import describe

__all__ = ["class_from_label"]


def _normalise(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def class_from_label(
    value: int | str,
    class_names: Sequence[str] | None = None,
    *,
    strict: bool = True,
    name: str = "target",
) -> int | None:
    """The class index that an index, a class name or a label means.

    One rule everywhere (``--target``, labels read from file names, a dataset's labels): a class name
    matches ignoring case, ``_`` versus space and repeated spaces; otherwise a string of digits is a
    class index. An int is a class index.

    Args:
        value: a class index, a class name, or a label.
        class_names: the model's class names, or ``None`` when it has none.
        strict: raise when ``value`` means no class (an option the user typed); ``False`` returns
            ``None`` instead (a label in a file name that is not a class: the top class is then
            explained). With ``strict=False`` and no class names, ``None`` is returned. Default
            ``True``.
        name: what errors call the value. Default ``"target"``.

    Returns:
        The class index, or ``None`` (only with ``strict=False``).

    Raises:
        TypeError: ``value`` is neither an int nor a str.
        ValueError: (``strict``) a negative index, an index outside ``class_names``, or a name that
            is not a class (close matches are suggested).
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name} must be a class index or a class name; got {describe(value)}")
    names = list(class_names) if class_names else None
    if not strict and names is None:
        return None
    if isinstance(value, int):
        index = value
    else:
        text = value.strip()
        if names is not None:
            key = _normalise(text)
            for i, class_name in enumerate(names):
                if _normalise(class_name) == key:
                    return i
        if text.isascii() and text.isdigit():
            index = int(text)
        elif not strict:
            return None
        else:
            hint = ""
            if names is not None:
                close = difflib.get_close_matches(text, names, n=3)
                hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ValueError(
                f"{name} {value!r} is neither a class index nor one of the model's class names"
                + (hint if names is not None else " (the model has no class names)")
            )
    if index < 0 or (names is not None and index >= len(names)):
        if not strict:
            return None
        bound = f" of {len(names)}" if names is not None else ""
        raise ValueError(f"{name} {value!r} is not a class index{bound} (0 .. K-1)")
    return index
