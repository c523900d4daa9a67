"""The ``videoattr`` command line: the outermost layer, which nothing else in the package imports.

Subcommands, one module each: ``explain`` ([`explain`][videoattr.cli.explain]), ``run`` ([`run`][videoattr.cli.run]), ``render``
([`render`][videoattr.cli.render]), ``demo`` ([`demo`][videoattr.cli.demo]), ``models`` ([`models`][videoattr.cli.models]), ``evaluate``
([`evaluate`][videoattr.cli.evaluate]); the options they share and
their checks are in [`options`][videoattr.cli.options]. ``python -m videoattr`` is the same command.

A new subcommand is a module with ``add_parser(subparsers)`` listed in [`SUBCOMMANDS`][videoattr.cli.SUBCOMMANDS]; a new
option shared by ``explain`` and ``run`` goes into [`videoattr.cli.options.add_method_arguments`][videoattr.cli.options.add_method_arguments].
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence

from videoattr.cli import demo, evaluate, explain, models, render, run

#: The subcommands, in the order ``--help`` lists them.
SUBCOMMANDS = (explain, run, render, demo, models, evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The ``videoattr`` argument parser with every subcommand."""
    from videoattr import __version__

    parser = argparse.ArgumentParser(
        prog="videoattr", description="Explain video classification networks."
    )
    parser.add_argument("--version", action="version", version=f"videoattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``videoattr`` and ``python -m videoattr``; returns the exit code.

    A usage error (a bad option value, a missing or unreadable path, a device this machine lacks, a
    weights file that is not a state_dict, a full disk) prints one line and returns 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (OSError, ValueError, TypeError, ImportError, pickle.UnpicklingError) as err:
        print(f"videoattr {args.command}: error: {err}", file=sys.stderr)
        return 2
    return code


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
