"""Options shared by the subcommands: the arguments, their checkers, the device and the output folder.

Every option is checked when the command line is parsed (``type=`` checkers below) or, when a check
needs the model or the file system, by the subcommand before its first video is attributed. A new
option shared by ``explain`` and ``run`` goes into
[`add_method_arguments`][videoattr.cli.options.add_method_arguments] and, when the method reads it,
into [`method_options`][videoattr.cli.methods.method_options].
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from videoattr.core.devices import resolve_device
from videoattr.datasets.folders import safe_name
from videoattr.methods.extremal.settings import (
    FAST_ITERATIONS,
    FAST_LR,
    FAST_MIN_REWARD_WEIGHT,
    PAPER_ITERATIONS,
)
from videoattr.methods.registry import method_names, resolve_method

#: The method of ``--method`` when none is given: one forward and a partial backward per clip,
#: seconds on a CPU with the zoo's CNNs, with a picture worth looking at.
DEFAULT_METHOD = "grad_cam"


class CommandError(ValueError):
    """A usage error the command line reports in one line (exit status 2)."""


# -- value checkers for argparse ------------------------------------------------------------------
def _number(kind: Callable[[str], Any], test: Callable[[Any], bool], expected: str) -> Any:
    def check(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return value

    check.__name__ = kind.__name__
    return check


positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: v > 0 and v < float("inf"), "a number > 0")
area = _number(float, lambda v: 0 < v < 1, "an area fraction in (0, 1)")


def plain_name(option: str) -> Callable[[str], str]:
    """A checker for an option that becomes one folder name (no ``/``, ``\\``, leading ``.``)."""

    def check(text: str) -> str:
        if not text or safe_name(text) != text:
            raise argparse.ArgumentTypeError(
                f"expected a plain folder name (no '/', '\\', control characters or leading '.', at "
                f"most 200 characters); got {text!r}"
            )
        return text

    check.__name__ = option
    return check


def method_name(text: str) -> str:
    """The canonical name of a registered method or alias (an ``argparse`` type)."""
    try:
        canonical: str = resolve_method(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return canonical


# -- shared arguments -------------------------------------------------------------------------------
def add_method_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``explain`` and ``run``: the model, the method and its settings."""
    g = parser.add_argument_group("model and method")
    g.add_argument(
        "--model",
        default="r2plus1d_18",
        help="model name from `videoattr models` (default: r2plus1d_18; 'demo' and 'demo-transformer' "
        "are the shipped demo models)",
    )
    g.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="local weights file (a state_dict) for the model (default: random weights, except for the "
        "demo models)",
    )
    g.add_argument(
        "--download",
        action="store_true",
        help="let the model's loader download named weights that are not cached (default: offline)",
    )
    g.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        type=method_name,
        metavar="METHOD",
        help=f"attribution method: {', '.join(method_names())}; the usual aliases work too "
        "(grad, gradcam, grad-cam, ig, integrated-gradients, input-x-gradient, 2d_ep, ...). "
        f"Results record the canonical name (default: {DEFAULT_METHOD}, seconds per clip on a "
        "CPU; --method step runs the paper's STEP, minutes per clip on a CPU)",
    )
    g.add_argument(
        "--area",
        type=area,
        nargs="+",
        default=[0.1],
        help="target area(s) of the perturbation methods, each in (0, 1) (default: 0.1)",
    )
    g.add_argument(
        "--iterations",
        type=positive_int,
        default=None,
        help=f"perturbation iterations (default: the preset's, {FAST_ITERATIONS} for fast, "
        f"{PAPER_ITERATIONS} for paper)",
    )
    g.add_argument(
        "--preset",
        choices=("fast", "paper"),
        default=None,
        help=f"settings of the perturbation methods: 'fast' ({FAST_ITERATIONS} Adam iterations at lr "
        f"{FAST_LR} from a gradient-map warm start, the paper's schedule compressed into the run, "
        f"a reward weight of at least {FAST_MIN_REWARD_WEIGHT:g}) or 'paper' ({PAPER_ITERATIONS} SGD iterations, as published) (default: fast)",
    )
    g.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default=None,
        help="perturbation optimiser (default: the preset's)",
    )
    g.add_argument(
        "--polarity",
        default=None,
        choices=("signed", "positive", "negative", "absolute"),
        help="polarity of gradient maps (default: the method's, signed, as in the Python API)",
    )
    g.add_argument(
        "--layer",
        default=None,
        help="layer of the CAM methods (default: the model's); several, comma-separated, are fused",
    )
    g.add_argument(
        "--option",
        dest="method_option",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="any other option of the method, e.g. --option n=500 (RISE), --option window=(4,16,16) "
        "(occlusion); repeatable",
    )
    g.add_argument(
        "--max-batch-size",
        type=positive_int,
        default=None,
        help="most samples in one forward (default: the method's own bound)",
    )
    add_device_arguments(g)
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument(
        "--seed", type=int, default=0, help="seed of noise and tie-breaking (default: 0)"
    )


def add_device_arguments(group: Any) -> None:
    """``--device`` and ``--no-gpu``."""
    group.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda, cuda:1, mps (default: cuda if available, else cpu)",
    )
    group.add_argument("--no-gpu", action="store_true", help="run on the CPU")


def device_of(args: argparse.Namespace, *, local_rank: int | None = None) -> torch.device:
    """The device of ``--device``/``--no-gpu``, checked to exist here.

    Raises:
        CommandError: ``--device`` names no device or one this machine lacks.
    """
    if args.no_gpu:
        return torch.device("cpu")
    try:
        return resolve_device(args.device, local_rank=local_rank)
    except ValueError as err:
        raise CommandError(f"--device: {err}") from None


def output_folder(path: str, option: str = "--out") -> Path:
    """``path`` as the output folder: it may not exist yet, but must not be a file.

    Raises:
        CommandError: ``path`` is an existing file (or another non-folder).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CommandError(f"{option} {path!r} is an existing file; give a folder")
    return p


def add_picture_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fps`` and ``--scale`` of the pictures (``explain`` and ``render``)."""
    parser.add_argument(
        "--fps",
        type=positive_float,
        default=None,
        help="frame rate of the GIF/MP4 (default: 8; with --whole-video the video's own rate "
        "divided by --frame-step)",
    )
    parser.add_argument(
        "--scale",
        type=positive_int,
        default=None,
        help="integer magnification of the pictures (default: the sheet picks one so that small "
        "clips stay readable; the GIF/MP4 keep the clip's size)",
    )


def check_picture_scale(args: argparse.Namespace, adapter: Any) -> None:
    """Refuse a ``--scale`` that makes pictures of the model's input size too large (before any
    work).

    Raises:
        CommandError: one line naming ``--scale`` and the largest scale allowed.
    """
    from videoattr.pipeline.outputs import check_scale

    crop = getattr(getattr(adapter, "preprocessing", None), "crop", None)
    if args.scale is None or not isinstance(crop, (tuple, list)) or len(crop) != 2:
        return
    try:
        check_scale(args.scale, int(crop[0]), int(crop[1]), name="--scale")
    except ValueError as err:
        raise CommandError(str(err)) from None


def picture_fps(args: argparse.Namespace) -> float:
    """``--fps``, or 8 when it is not given (clips)."""
    return float(args.fps) if args.fps is not None else 8.0


def add_whole_video_arguments(
    parser: argparse.ArgumentParser, *, run: bool = False, sheet: bool = True
) -> None:
    """``--whole-video`` and its settings (``--sheet-frames`` with ``sheet``); ``run`` words the help
    for a dataset run."""
    g = parser.add_argument_group(
        "whole videos", "explain every frame with sliding windows instead of one sampled clip"
    )
    g.add_argument(
        "--whole-video",
        action="store_true",
        help=(
            "explain each whole video with sliding windows of the model's clip length, stitched "
            "into one map per frame (averaged where windows overlap); each result holds the maps "
            "of every sampled frame and the windows' probabilities; --batch-size is then the "
            "windows per model call"
            if run
            else "explain the whole video with sliding windows of the model's clip length, "
            "stitched into one map per frame (averaged where windows overlap), with a timeline of "
            "the target's probability per window; the target is one class for the whole video"
        ),
    )
    g.add_argument(
        "--window-stride",
        type=positive_int,
        default=None,
        metavar="S",
        help="frames (after --frame-step) between window starts (default: half the clip length)",
    )
    g.add_argument(
        "--frame-step",
        type=positive_int,
        default=None,
        metavar="K",
        help="keep every K-th frame of the video, e.g. 2 for a model trained on every other "
        "frame (default: 1)",
    )
    g.add_argument(
        "--short-video",
        choices=("pad", "error"),
        default=None,
        help="a video shorter than one window: repeat its last frame, or fail (default: pad)",
    )
    if not sheet:
        return
    g.add_argument(
        "--sheet-frames",
        type=positive_int,
        default=None,
        metavar="N",
        help="frames shown in the PNG sheet above the timeline (default: 8)",
    )


def check_whole_video(args: argparse.Namespace) -> None:
    """Refuse the window settings without ``--whole-video``."""
    if args.whole_video:
        return
    for flag in ("window_stride", "frame_step", "short_video", "sheet_frames"):
        if getattr(args, flag, None) is not None:
            raise CommandError(f"--{flag.replace('_', '-')} applies only with --whole-video")
