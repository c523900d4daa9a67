"""``videoattr run``: attribute a whole folder of videos, resumable, sharded with ``torchrun``.

Examples::

    videoattr run --videos-dir val/ --out runs/val-gradcam --model r2plus1d_18 \\
        --weights r2plus1d_18.pth --method grad_cam --batch-size 8
    torchrun --nproc_per_node=4 -m videoattr run --videos-dir val/ --out runs/val-step \\
        --model r2plus1d_18 --weights r2plus1d_18.pth --method step --iterations 300 --optimizer adam
    videoattr run --videos-dir long/ --out runs/long-gradcam --model r2plus1d_18 \\
        --weights r2plus1d_18.pth --method grad_cam --whole-video --window-stride 8

With ``--whole-video`` each video is explained whole, with sliding windows of the model's clip
length (see [`videoattr.runner.videos`][videoattr.runner.videos]); ``videoattr render`` then draws
each video's sheet and timeline.

Run the same command again to resume: complete clips are skipped, the others (and, unless
``--no-retry-failed``, the failed ones) are redone. A clip that fails (a corrupt video, say) is
recorded in ``OUT/failures/`` and the manifest and does not stop the run. Once every rank has
finished what it can, the exit status is 1 when any clip of the run failed (under ``torchrun`` the
job then reports failure), 0 when none did or with ``--allow-failures``, and 2 for a usage error
(or a full disk: what is done is kept, rerun to resume).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from videoattr.cli.loading import load_model, weights_settings
from videoattr.cli.methods import (
    announce,
    build_method,
    preset_of,
    target_request,
)
from videoattr.cli.options import (
    CommandError,
    add_method_arguments,
    add_whole_video_arguments,
    check_whole_video,
    device_of,
    non_negative_int,
    output_folder,
    positive_float,
    positive_int,
)
from videoattr.datasets.folders import list_videos, skipped_note


def _said_by_the_command(record: logging.LogRecord) -> bool:
    """Drop the runner's closing summary and failure count from its log: the command prints them."""
    text = record.getMessage()
    return not (text.startswith("run finished:") or "failed; their errors are in" in text)


#: Failed clips listed on the terminal (the rest are in OUT/failures and the manifest).
SHOWN_FAILURES = 20


def add_parser(sub: Any) -> None:
    """Register ``run``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="attribute a whole folder of videos (batched, resumable, sharded with torchrun)",
        description=(
            "Attribute every video and frame folder of --videos-dir and write one result per clip "
            "(OUT/results/<id>.npz: float32 maps and metadata) and OUT/manifest.json. Launch with "
            "`torchrun --nproc_per_node=N -m videoattr run ...` to shard over N processes (one GPU "
            "each when there are GPUs). Rerun the same command to resume. Exit status: 1 when a "
            "clip failed (see --allow-failures), 2 for a usage error."
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
        help="class index or name to explain for every clip, a comma-separated list of them, or "
        "topK (each result then holds one map per class) (default: the label in the name if it "
        "is a class, else the top class)",
    )
    g = p.add_argument_group("dataset run")
    g.add_argument(
        "--batch-size", type=positive_int, default=4, help="clips per attribution call (default: 4)"
    )
    g.add_argument(
        "--num-workers",
        type=non_negative_int,
        default=2,
        help="DataLoader processes decoding videos per rank (default: 2)",
    )
    g.add_argument(
        "--no-retry-failed",
        action="store_true",
        help="do not retry clips that failed in an earlier run",
    )
    g.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit with status 0 even when some clip failed (default: 1; failures are in "
        "OUT/failures and the manifest)",
    )
    g.add_argument(
        "--log-every",
        type=positive_float,
        default=30.0,
        help="seconds between progress lines in the log (default: 30)",
    )
    add_whole_video_arguments(p, run=True, sheet=False)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Run ``videoattr run``; returns the exit status (0, 1 when a clip failed, 2 usage)."""
    from videoattr.runner.engine import run
    from videoattr.runner.sharding import context_from_env
    from videoattr.runner.store import DiskFullError

    out = output_folder(args.out)
    check_whole_video(args)
    from videoattr.runner.guard import RUN_FILES

    videos, skipped = list_videos(  # an unreadable folder fails here, in one line
        args.videos_dir, name="--videos-dir", exclude=[out, *(out / f for f in RUN_FILES)]
    )
    note = skipped_note(skipped)
    if note:
        print(f"note: {note}", file=sys.stderr)
    ctx = context_from_env()
    device = device_of(args, local_rank=ctx.local_rank)
    adapter = load_model(args, device)
    request = target_request(args.target, adapter.class_names)  # a bad --target fails here
    if (
        args.whole_video
        and args.window_stride is not None
        and args.window_stride > adapter.clip_len
    ):
        raise CommandError(
            f"--window-stride must be at most the model's clip length ({adapter.clip_len}), so "
            f"that every frame lies in a window; got {args.window_stride}"
        )
    # The methods' own bars would interleave between ranks; keep them for a single process.
    method = build_method(args, adapter, progress=not ctx.is_distributed and not args.whole_video)
    if ctx.is_main:
        announce(method, adapter, device, preset_of(args), clips=len(videos))
        if args.whole_video and method.is_perturbation:
            print(
                "  (--whole-video: that time is per window; a video of N frames has about "
                "N / --window-stride windows)",
                file=sys.stderr,
            )
    target: int | str | list[int] | None = args.target
    if request.classes and len(request.classes) > 1:
        target = list(request.classes)
    runner_log = logging.getLogger("videoattr.runner")
    runner_log.addFilter(_said_by_the_command)  # for this command only: removed below
    try:
        summary = run(
            args.videos_dir,
            adapter,
            method.attributor,
            out,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            target=target,
            device=device,
            areas=method.areas or None,
            retry_failed=not args.no_retry_failed,
            progress=not args.no_progress,
            log_every_s=args.log_every,
            settings={
                "model": args.model,
                **weights_settings(args),
                "preset": preset_of(args),
            },
            whole_videos=args.whole_video,
            window_stride=args.window_stride,
            frame_step=args.frame_step or 1,
            short_video="error" if args.short_video == "error" else "pad",
        )
    except DiskFullError as err:
        print(
            f"videoattr run: error: {err}. The results written so far are kept: free some space "
            "and run the same command again to resume.",
            file=sys.stderr,
        )
        return 2
    finally:
        runner_log.removeFilter(_said_by_the_command)
    if ctx.is_main:
        print(f"{summary}; manifest {summary.manifest}")
        failures = summary.failures
        if failures:
            print(f"{len(failures)} {summary.unit}(s) failed:", file=sys.stderr)
            for clip_id, error in list(failures.items())[:SHOWN_FAILURES]:
                print(f"  {clip_id}: {error}", file=sys.stderr)
            if len(failures) > SHOWN_FAILURES:
                print(f"  ... and {len(failures) - SHOWN_FAILURES} more", file=sys.stderr)
            print(
                f"errors and tracebacks are in {summary.failures_dir}, statuses in "
                f"{summary.manifest}; rerun the same command to retry them",
                file=sys.stderr,
            )
    return 1 if summary.failed and not args.allow_failures else 0
