"""The ``videoattr`` command line: ``explain`` videos, run the shipped ``demo``, list ``models``, and
``run`` over a whole dataset (sharded with ``torchrun``). ``python -m videoattr`` is the same command.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from videoattr.methods.registry import (
    METHOD_NAMES,
    MethodOptions,
    build_explainer,
)

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".gif", ".m4v")


def add_method_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``explain`` and ``run``: the model, the method and its settings."""
    g = parser.add_argument_group("model and method")
    g.add_argument(
        "--model",
        default="r2plus1d_18",
        help="model name from `videoattr models` (default: r2plus1d_18; 'demo' is the shipped demo model)",
    )
    g.add_argument(
        "--weights",
        default=None,
        help="local weights file for the model (default: random weights, except for 'demo')",
    )
    g.add_argument(
        "--method", default="step", choices=METHOD_NAMES, help="attribution method (default: step)"
    )
    g.add_argument(
        "--area",
        type=float,
        nargs="+",
        default=[0.1],
        help="target area(s) of the perturbation methods (default: 0.1)",
    )
    g.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="perturbation iterations (default: the method's, 2000)",
    )
    g.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="perturbation optimiser (default: sgd, the paper's)",
    )
    g.add_argument(
        "--polarity",
        default="positive",
        choices=("signed", "positive", "negative", "absolute"),
        help="polarity of gradient maps (default: positive)",
    )
    g.add_argument("--layer", default=None, help="Grad-CAM layer (default: the model's)")
    g.add_argument(
        "--max-batch-size",
        type=int,
        default=None,
        help="most samples in one forward (default: no bound)",
    )
    g.add_argument(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)"
    )
    g.add_argument("--no-gpu", action="store_true", help="run on the CPU")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument(
        "--seed", type=int, default=0, help="seed of noise and tie-breaking (default: 0)"
    )


def resolve_device(args: argparse.Namespace) -> torch.device:
    if args.no_gpu:
        return torch.device("cpu")
    if args.device:
        return torch.device(args.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(args: argparse.Namespace, device: torch.device) -> Any:
    """The zoo adapter named by ``--model`` with ``--weights``, on ``device``, in eval mode."""
    from videoattr import zoo

    adapter = zoo.load(args.model, weights=args.weights)
    if args.weights is None and args.model != "demo":
        print(
            f"warning: --weights not given, {args.model} has random weights: the maps explain an untrained network",
            file=sys.stderr,
        )
    return adapter.to(device).eval()


def method_options(args: argparse.Namespace, adapter: Any) -> MethodOptions:
    return MethodOptions(
        polarity=args.polarity,
        areas=tuple(args.area),
        iterations=args.iterations,
        optimizer=args.optimizer,
        layer=args.layer or adapter.layer,
        reshape=adapter.reshape if args.layer is None else None,
        mean=adapter.mean,
        std=adapter.std,
        max_batch_size=args.max_batch_size,
        progress=not args.no_progress,
        seed=args.seed,
    )


def label_of(path: Path) -> str:
    """The label encoded in a video's name: the part before the first ``-`` (the paper's convention)."""
    return path.stem.split("-")[0] if path.is_file() else path.name.split("-")[0]


def find_videos(videos_dir: Path) -> list[Path]:
    """Video files and frame folders directly inside ``videos_dir``, sorted by name."""
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"--videos-dir {videos_dir} is not a directory")
    found = [
        p
        for p in sorted(videos_dir.iterdir())
        if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or p.is_dir()
    ]
    if not found:
        raise FileNotFoundError(
            f"--videos-dir {videos_dir} holds no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders"
        )
    return found


def class_index(label: str, class_names: Sequence[str] | None) -> int | None:
    """Index of ``label`` among ``class_names`` (case, spaces and underscores ignored), or ``None``."""
    if not class_names:
        return None
    key = label.lower().replace("_", " ").strip()
    for i, name in enumerate(class_names):
        if name.lower().replace("_", " ").strip() == key:
            return i
    return int(label) if label.isdigit() and int(label) < len(class_names) else None


def read_clip(path: Path, adapter: Any, device: torch.device) -> torch.Tensor:
    """Read the frames the adapter samples from ``path`` and preprocess them to ``(1, C, T, H, W)``."""
    from videoattr import io

    n = io.count_frames(path)
    if n < adapter.clip_len:
        raise io.VideoTooShortError(
            f"video {path} has {n} frames; model {args_model(adapter)} needs at least {adapter.clip_len}"
        )
    frames = io.read_video(path, sampling=adapter.sampling.indices(n))
    clip: torch.Tensor = adapter.preprocess(frames).to(device)
    return clip


def args_model(adapter: Any) -> str:
    return str(getattr(adapter, "name", type(adapter).__name__))


def cmd_explain(args: argparse.Namespace) -> int:
    from videoattr.pipeline import explain_clip, settings_dict, write_outputs

    device = resolve_device(args)
    adapter = load_model(args, device)
    explainer = build_explainer(args.method, adapter, method_options(args, adapter))
    videos = [Path(args.video)] if args.video else find_videos(Path(args.videos_dir))
    out_root = Path(args.out) / args.method / args.model
    failures = 0
    for path in videos:
        label = label_of(path)
        try:
            clip = read_clip(path, adapter, device)
            target = (
                class_index(label, adapter.class_names)
                if args.target is None
                else _parse_target(args.target, adapter.class_names)
            )
            result = explain_clip(adapter, explainer, clip, target)
            folder = out_root / (args.save_label or label)
            settings = {
                "model": args.model,
                "weights": args.weights,
                "video": str(path),
                **settings_dict(explainer.attributor),
            }
            paths = write_outputs(
                folder,
                path.stem if path.is_file() else path.name,
                clip,
                result,
                mean=adapter.mean,
                std=adapter.std,
                class_names=adapter.class_names,
                method=args.method,
                areas=explainer.areas,
                settings=settings,
                fps=args.fps,
            )
            names = adapter.class_names
            pred = names[result.prediction] if names else result.prediction
            extra = (
                f", preserved prob {', '.join(f'{p:.3f}' for p in result.preserved_prob)}"
                if result.preserved_prob
                else ""
            )
            print(
                f"{path.name}: predicted {pred} ({result.prediction_prob:.3f}), explained class {result.target}{extra}, {result.seconds:.1f}s"
            )
            for kind, p in paths.items():
                print(f"  {kind}: {p}")
        except Exception as err:  # one bad video is reported and skipped; the others finish
            failures += 1
            print(f"error: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            if args.traceback:
                traceback.print_exc()
    print(
        f"{len(videos) - failures} of {len(videos)} videos explained"
        + (f", {failures} failed" if failures else "")
    )
    return 1 if failures else 0


def _parse_target(value: str, class_names: Sequence[str] | None) -> int:
    if value.isdigit():
        return int(value)
    idx = class_index(value, class_names)
    if idx is None:
        raise ValueError(
            f"--target {value!r} is neither a class index nor one of the model's class names"
        )
    return idx


def cmd_demo(args: argparse.Namespace) -> int:
    """Explain a generated clip with the shipped demo model: STEP and Grad-CAM, files under --out."""
    from videoattr import demo_model, zoo
    from videoattr.datasets import SyntheticMotion
    from videoattr.pipeline import explain_clip, settings_dict, write_outputs

    device = (
        torch.device("cpu")
        if args.no_gpu
        else torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    )
    adapter = zoo.load("demo").to(device).eval()
    data = SyntheticMotion(seed=args.seed, **demo_model.DATASET_KWARGS)
    batch = data.sample(1)
    clip = batch.clips.to(device)
    label = int(batch.labels[0])
    names = list(demo_model.CLASS_NAMES)
    out = Path(args.out)
    print(
        f"demo: a generated clip whose red square moves {names[label]}; model {args_model(adapter)} on {device}"
    )
    start = time.perf_counter()
    for method, opts in (
        ("grad_cam", MethodOptions(layer=adapter.layer, reshape=adapter.reshape)),
        (
            "step",
            MethodOptions(
                areas=tuple(args.area),
                iterations=args.iterations,
                optimizer=args.optimizer,
                progress=not args.no_progress,
            ),
        ),
    ):
        explainer = build_explainer(method, adapter, opts)
        result = explain_clip(adapter, explainer, clip, label)
        paths = write_outputs(
            out / method,
            f"demo-{names[label]}",
            clip,
            result,
            mean=adapter.mean,
            std=adapter.std,
            class_names=names,
            method=method,
            areas=explainer.areas,
            settings=settings_dict(explainer.attributor),
        )
        extra = (
            f"; preserved clip keeps p = {', '.join(f'{p:.3f}' for p in result.preserved_prob)}"
            if result.preserved_prob
            else ""
        )
        print(
            f"{method}: predicted {names[result.prediction]} (p = {result.prediction_prob:.3f}){extra} [{result.seconds:.1f}s]"
        )
        for kind, p in paths.items():
            print(f"  {kind}: {p}")
    print(
        f"done in {time.perf_counter() - start:.1f}s; open the .gif or .png files above to see the explanations"
    )
    return 0


def cmd_models(_args: argparse.Namespace) -> int:
    from videoattr import zoo

    for entry in zoo.available():
        status = "ok" if entry.installed() else f"needs {', '.join(entry.requires)}"
        print(f"{entry.name:<16} {status:<28} {entry.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videoattr", description="Explain video classification networks."
    )
    from videoattr import __version__

    parser.add_argument("--version", action="version", version=f"videoattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "explain", help="explain videos (a folder of videos/frame folders, or one video)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--videos-dir", help="folder of videos or frame folders; the label is the name before '-'"
    )
    src.add_argument("--video", help="one video file or frame folder")
    add_method_arguments(p)
    p.add_argument(
        "--target",
        default=None,
        help="class index or name to explain (default: the label in the name if it is a class, else the top class)",
    )
    p.add_argument(
        "--out",
        default="visual_res",
        help="output root; files go to OUT/<method>/<model>/<label>/ (default: visual_res)",
    )
    p.add_argument(
        "--save-label", default=None, help="use this folder name instead of the video's label"
    )
    p.add_argument("--fps", type=float, default=8.0, help="frame rate of the GIF/MP4 (default: 8)")
    p.add_argument(
        "--traceback", action="store_true", help="print the full traceback of a failing video"
    )
    p.set_defaults(func=cmd_explain)

    d = sub.add_parser(
        "demo", help="explain a generated clip with the shipped demo model (no download)"
    )
    d.add_argument(
        "--out", default="videoattr_demo", help="output folder (default: videoattr_demo)"
    )
    d.add_argument(
        "--area", type=float, nargs="+", default=[0.1], help="STEP area(s) (default: 0.1)"
    )
    d.add_argument(
        "--iterations", type=int, default=300, help="STEP iterations (default: 300 with Adam)"
    )
    d.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="adam",
        help="STEP optimiser (default: adam)",
    )
    d.add_argument("--seed", type=int, default=7, help="seed of the generated clip (default: 7)")
    d.add_argument("--device", default=None)
    d.add_argument("--no-gpu", action="store_true")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser("models", help="list the model zoo and what each model needs")
    m.set_defaults(func=cmd_models)

    try:
        from videoattr.runner.cli import add_run_parser
    except ImportError:
        pass
    else:
        add_run_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``videoattr`` and ``python -m videoattr``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (FileNotFoundError, ValueError, ImportError, TypeError) as err:
        print(f"videoattr {args.command}: error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
