"""The ``videoattr run`` subcommand: attribute a whole folder of videos, sharded with ``torchrun``.

Examples::

    videoattr run --videos-dir val/ --out runs/val-gradcam --model r2plus1d_18 \\
        --weights r2plus1d_18.pth --method grad_cam --batch-size 8
    torchrun --nproc_per_node=4 -m videoattr run --videos-dir val/ --out runs/val-step \\
        --model r2plus1d_18 --weights r2plus1d_18.pth --method step --iterations 300 --optimizer adam

Run the same command again to resume: complete clips are skipped, the others (and, unless
``--no-retry-failed``, the failed ones) are redone. A clip that fails (a corrupt video, say) is
recorded in ``OUT/failures/`` and the manifest and does not stop the run. The exit status is 0 when
the run went through (1 with ``--fail-on-error`` when some clip failed: under ``torchrun`` that
makes the launcher report the ranks as failed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``run`` on the ``videoattr`` subparsers (``build_parser`` calls this)."""
    from videoattr.cli import add_method_arguments

    p: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="attribute a whole folder of videos (batched, resumable, sharded with torchrun)",
        description=(
            "Attribute every video and frame folder of --videos-dir and write one result per clip "
            "(OUT/results/<id>.npz: float16 maps and metadata) and OUT/manifest.json. Launch with "
            "`torchrun --nproc_per_node=N -m videoattr run ...` to shard over N processes (one GPU "
            "each when there are GPUs). Rerun the same command to resume."
        ),
    )
    p.add_argument(
        "--videos-dir",
        required=True,
        help="folder of videos or frame folders; the label is the name before '-'",
    )
    p.add_argument("--out", required=True, help="output folder of the run")
    add_method_arguments(p)
    p.add_argument(
        "--target",
        default=None,
        help="class index or name to explain for every clip (default: the label in the name if it "
        "is a class, else the top class)",
    )
    g = p.add_argument_group("dataset run")
    g.add_argument(
        "--batch-size", type=int, default=4, help="clips per attribution call (default: 4)"
    )
    g.add_argument(
        "--num-workers",
        type=int,
        default=2,
        help="DataLoader processes decoding videos per rank (default: 2)",
    )
    g.add_argument(
        "--no-retry-failed",
        action="store_true",
        help="do not retry clips that failed in an earlier run",
    )
    g.add_argument(
        "--fail-on-error",
        action="store_true",
        help="exit with status 1 when some clip failed (default: 0; failures are in OUT/failures)",
    )
    g.add_argument(
        "--log-every",
        type=float,
        default=30.0,
        help="seconds between progress lines in the log (default: 30)",
    )
    p.set_defaults(func=cmd_run)
    return p


def _target(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def cmd_run(args: argparse.Namespace) -> int:
    """Run ``videoattr run``; returns the exit status."""
    from videoattr.cli import load_model, method_options, resolve_device
    from videoattr.methods.registry import build_explainer
    from videoattr.runner.engine import run
    from videoattr.runner.sharding import context_from_env, device_for

    try:
        ctx = context_from_env()
        device = device_for(resolve_device(args), ctx)
        adapter = load_model(args, device)
        options = method_options(args, adapter)
        # The methods' own bars would interleave between ranks; keep them for a single process.
        options = dataclasses.replace(options, progress=options.progress and not ctx.is_distributed)
        explainer = build_explainer(args.method, adapter, options)
        summary = run(
            args.videos_dir,
            adapter,
            explainer,
            args.out,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            target=_target(args.target),
            device=device,
            retry_failed=not args.no_retry_failed,
            progress=not args.no_progress,
            log_every_s=args.log_every,
            settings={"model": args.model, "weights": args.weights},
        )
    except (FileNotFoundError, ValueError, TypeError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if ctx.is_main:
        print(summary)
    return 1 if summary.failed and args.fail_on_error else 0
