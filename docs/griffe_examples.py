"""Griffe extension for the API reference: read videoattr's docstrings the way Napoleon would.

Two spellings that the codebase uses (both valid for Sphinx's Napoleon) are unknown to Griffe's Google
parser, so this extension rewrites them before parsing:

* an ``Example:`` section heading becomes ``Examples:``, so the ``>>>`` lines render as highlighted code
  (Griffe would otherwise render them as Markdown, where output such as ``[0, 1][2]`` reads as a link);
* an argument entry naming several parameters that share a description (``mean, std: the model's
  normalisation``) becomes one entry per parameter with that description.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ARGS_HEADING = re.compile(r"^(\s*)(Args|Arguments|Parameters|Keyword Args|Other Parameters):\s*$")
_SHARED_ENTRY = re.compile(r"^(\s+)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+):(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_shared_arguments(text: str) -> str:
    """Turn ``a, b: description`` entries of argument sections into one entry per name."""
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _ARGS_HEADING.match(line)
        if heading:
            section_indent = len(heading.group(1))
            out.append(line)
            i += 1
            continue
        if section_indent is not None and line.strip() and _indent(line) <= section_indent:
            section_indent = None
        entry = _SHARED_ENTRY.match(line) if section_indent is not None else None
        if entry is None:
            out.append(line)
            i += 1
            continue
        indent, names, rest = entry.groups()
        block = [rest]
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            if not lines[i].strip() and (
                i + 1 >= len(lines) or _indent(lines[i + 1]) <= len(indent)
            ):
                break
            block.append("\n" + lines[i])
            i += 1
        for name in (n.strip() for n in names.split(",")):
            out.append(f"{indent}{name}:{''.join(block)}")
    return "\n".join(out)


class ExampleSections(griffe.Extension):
    """Apply the two rewrites above to every docstring as soon as its object exists."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring before Griffe parses it."""
        if obj.docstring is not None:
            value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = split_shared_arguments(value)
