"""``videoattr models``: list the model zoo and what each model needs."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``models``."""
    m = sub.add_parser("models", help="list the model zoo and what each model needs")
    m.set_defaults(func=cmd_models)


def cmd_models(_args: argparse.Namespace) -> int:
    """Print one line per zoo model: name, whether it is installed, description."""
    from videoattr import zoo

    for entry in zoo.available():
        status = "ok" if entry.installed() else f"needs {', '.join(entry.requires)}"
        print(f"{entry.name:<16} {status:<28} {entry.description}")
    return 0
