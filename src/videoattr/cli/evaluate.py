"""``videoattr evaluate``: the published evaluation protocol on an annotated dataset, methods side by side.

Examples::

    videoattr evaluate --dataset ucf101-24 --root data/UCF101_24 --model r2plus1d_18 \\
        --weights r2p1d_ucf24.pth --method step,grad_cam,ig --out runs/ucf-eval
    videoattr evaluate --dataset jhmdb-21 --root data/JHMDB --split-index 2 ... --protocol both

Each method runs through the dataset runner into ``OUT/runs/<method>/`` (resumable: the same
command again skips the finished videos, and gives the same table), then ``OUT/table.md``,
``OUT/table.csv``, ``OUT/table.json`` and ``OUT/figure.png`` are written (see
[`videoattr.evaluation`][videoattr.evaluation]). The class count and names come from the dataset's
annotation; a checkpoint with another number of classes is refused in one line. Exit status: 0, 1
when some video's attribution failed, 2 for a usage error (one line).
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

from videoattr.cli.loading import weights_record
from videoattr.cli.methods import METHOD_FLAGS, build_method
from videoattr.cli.options import (
    add_device_arguments,
    add_method_arguments,
    device_of,
    non_negative_int,
    output_folder,
    positive_int,
)
from videoattr.datasets.boxes import EDGE_RULE

#: Skipped videos listed on the terminal (all of them are in the table's files).
SHOWN_SKIPS = 20


def _method_list(text: str) -> list[str]:
    from videoattr.methods.registry import resolve_method

    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated method names; got {text!r}")
    try:
        canonical = [resolve_method(n) for n in names]
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if len(set(canonical)) != len(canonical):
        raise argparse.ArgumentTypeError(f"a method is named twice: {canonical}")
    return canonical


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {text!r}")
    return value


def add_parser(sub: Any) -> None:
    """Register ``evaluate``."""
    from videoattr.evaluation import DATASETS

    p: argparse.ArgumentParser = sub.add_parser(
        "evaluate",
        conflict_handler="resolve",
        help="score methods on an annotated dataset (pointing game, mass in boxes) and tabulate",
        description=(
            "Attribute the videos of an annotated dataset with each --method (through the "
            "resumable dataset runner), score the maps against the boxes with the published "
            "protocol, and write OUT/table.md, table.csv, table.json and figure.png."
        ),
    )
    p.add_argument(
        "--dataset", required=True, choices=sorted(DATASETS), help="the dataset's format"
    )
    p.add_argument("--root", required=True, help="the dataset's folder (annotation and frames)")
    p.add_argument(
        "--annotation",
        default=None,
        help="the annotation file, when not the usual name inside --root",
    )
    p.add_argument("--split", default="test", choices=["test", "train"], help="(default: test)")
    p.add_argument(
        "--split-index",
        type=non_negative_int,
        default=0,
        help="which split of a dataset with several (J-HMDB-21: 0, 1, 2) (default: 0)",
    )
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N videos")
    p.add_argument("--out", required=True, help="output folder")
    add_method_arguments(p)
    p.add_argument(
        "--method",
        required=True,
        type=_method_list,
        metavar="METHODS",
        help="comma-separated methods, e.g. step,grad_cam,ig; --area/--preset/--iterations apply "
        "to the perturbation methods among them, --layer to the CAM methods",
    )
    g = p.add_argument_group("protocol")
    g.add_argument(
        "--protocol",
        choices=["correct", "reference", "both"],
        default="correct",
        help="pointing game: 'correct' (default), 'reference' (the reference implementation's "
        "scoring, for numbers beside the paper's) or 'both' columns",
    )
    g.add_argument(
        "--pairs",
        action="store_true",
        help="also score temporal grounding on joined pairs of videos of different classes (a "
        "second run per method)",
    )
    g.add_argument(
        "--tolerance",
        type=_non_negative_float,
        default=None,
        help="pointing tolerance in pixels (default: 7 at 112 x 112, scaled)",
    )
    g.add_argument(
        "--smooth",
        type=_non_negative_float,
        default=0.0,
        help="Gaussian smoothing (std, px) of each frame's map before its peak (default: 0)",
    )
    g.add_argument(
        "--on-problem",
        choices=["skip", "error"],
        default="skip",
        help="a video that is not what its annotation claims: list and skip it (default), or stop",
    )
    g.add_argument(
        "--resamples",
        type=positive_int,
        default=1000,
        help="bootstrap resamples for the standard errors (default: 1000)",
    )
    r = p.add_argument_group("dataset run")
    r.add_argument("--batch-size", type=positive_int, default=4, help="clips per call (default: 4)")
    r.add_argument(
        "--num-workers",
        type=non_negative_int,
        default=2,
        help="DataLoader processes reading frames (default: 2)",
    )
    add_device_arguments(r)
    p.set_defaults(func=cmd_evaluate)


def _args_for(args: argparse.Namespace, name: str) -> argparse.Namespace:
    """``args`` for one of the methods: the options it does not take left out."""
    from videoattr.methods.registry import method_info

    one = copy.copy(args)
    one.method = name
    info = method_info(name)
    if info.kind != "perturbation":
        one.area, one.preset = [0.1], None
    accepted = info.option_names()
    for flag, (option, _read) in METHOD_FLAGS.items():
        if accepted is not None and option not in accepted:
            setattr(one, flag[2:].replace("-", "_"), None)
    return one


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run ``videoattr evaluate``; returns the exit status."""
    from videoattr.evaluation import MethodSpec, evaluate, load_model_for, open_source
    from videoattr.runner.sharding import context_from_env

    out = output_folder(args.out)
    ctx = context_from_env()
    device = device_of(args, local_rank=ctx.local_rank)
    source = open_source(
        args.dataset,
        args.root,
        split=args.split,
        split_index=args.split_index,
        annotation=args.annotation,
    )
    options = {"download": True} if args.download else {}
    adapter, line = load_model_for(
        args.model,
        args.weights,
        source.labels,
        dataset=args.dataset,
        annotation=source.annotation,
        **options,
    )
    adapter = adapter.to(device).eval()
    if ctx.is_main:
        print(line, file=sys.stderr)
    specs = []
    for name in args.method:
        method = build_method(_args_for(args, name), adapter, progress=False)
        specs.append(MethodSpec(name, method.attributor, areas=method.areas or None))
    table = evaluate(
        source,
        adapter,
        specs,
        out,
        limit=args.limit,
        protocol=args.protocol,
        pairs=args.pairs,
        tolerance=args.tolerance,
        smooth=args.smooth,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=device,
        on_problem=args.on_problem,
        resamples=args.resamples,
        progress=not args.no_progress,
        settings={
            "model": args.model,
            "weights": weights_record(args),
            "split": args.split,
            "split_index": args.split_index,
            "root": str(args.root),
        },
    )
    if not ctx.is_main:
        return 0
    print(table.markdown().split("\n\n- **")[0])
    if table.skipped:
        print(f"{len(table.skipped)} video(s) skipped:", file=sys.stderr)
        for video, reason in table.skipped[:SHOWN_SKIPS]:
            print(f"  {video}: {reason}", file=sys.stderr)
        if len(table.skipped) > SHOWN_SKIPS:
            print(
                f"  ... and {len(table.skipped) - SHOWN_SKIPS} more (in table.md)", file=sys.stderr
            )
    if table.clipped:
        print(
            f"{table.boxes_clipped} box(es) of {len(table.clipped)} video(s) passed the frame's edge "
            f"by at most {EDGE_RULE} and were clipped to it (listed in table.md)",
            file=sys.stderr,
        )
    failed = sum(r.failed for r in table.rows)
    print(
        f"table: {out / 'table.md'}, {out / 'table.csv'}, {out / 'table.json'}; figure: {out / 'figure.png'}"
    )
    if failed:
        print(f"{failed} attribution(s) failed: see {out}/runs/*/failures", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_parser", "cmd_evaluate"]
