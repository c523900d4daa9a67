"""``videoattr report RUN_DIR``: one self-contained HTML page of a dataset run.

The page lists every video with its target, prediction, probabilities, method, time and outcome
(failed videos with their error), sortable and filterable, and links each video's sheet, animation
and timeline (``videoattr render`` writes them). It opens from ``file://``, offline; see
[`videoattr.runner.report_page`][videoattr.runner.report_page].
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from videoattr.cli.options import CommandError


def add_parser(sub: Any) -> None:
    """Register ``report``."""
    p = sub.add_parser(
        "report",
        help="write an HTML page of a `videoattr run`: every video, sortable, with its pictures",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the output folder of `videoattr run`")
    p.add_argument("--out", default=None, help="the page to write (default: RUN_DIR/report.html)")
    p.add_argument(
        "--pictures",
        default=None,
        help="where `videoattr render` wrote the pictures (default: RUN_DIR/pictures)",
    )
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the page; returns 0."""
    from videoattr.runner.report_page import write_report

    root = Path(args.run_dir)
    if not (root / "run.json").is_file():
        raise CommandError(
            f"RUN_DIR {args.run_dir!r} holds no run.json: not a `videoattr run` folder"
        )
    if args.out is not None and Path(args.out).is_dir():
        raise CommandError(f"--out {args.out!r} is a folder; give the page's file name")
    if args.pictures is not None and not Path(args.pictures).is_dir():
        raise CommandError(f"--pictures {args.pictures!r} is not a folder")
    page = write_report(root, args.out, pictures=args.pictures)
    print(f"wrote {page}; open {page.resolve().as_uri()}")
    return 0
