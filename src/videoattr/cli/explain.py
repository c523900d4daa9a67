"""``videoattr explain``: explain videos and write the pictures, the maps and a JSON summary.

Files go to ``OUT/<method>/<model>/<label>/<video name>.{gif,mp4,png,npz,json}``. Every part of that
path that comes from a file name, a label or an option is a plain folder or file name (names that
are not are made safe, options that are not are refused), and the final path is checked to lie
inside ``OUT``.
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from videoattr.cli.loading import load_model, weights_record
from videoattr.cli.methods import (
    announce,
    build_method,
    preset_of,
    target_request,
)
from videoattr.cli.options import (
    CommandError,
    add_method_arguments,
    add_picture_arguments,
    device_of,
    output_folder,
    plain_name,
)
from videoattr.datasets.folders import (
    adapter_reading,
    class_from_label,
    clip_stem,
    find_videos,
    label_of,
    load_clip,
    safe_name,
)

if TYPE_CHECKING:
    from videoattr.pipeline import Method

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def add_parser(sub: Any) -> None:
    """Register ``explain``."""
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
        help="class index or name to explain, a comma-separated list of them, or topK (the K "
        "classes the model scores highest, e.g. top3); several targets write one set of files per "
        "target, named <video>.<class> (default: the label in the name if it is a class, else the "
        "top class)",
    )
    p.add_argument(
        "--out",
        default="visual_res",
        help="output root; files go to OUT/<method>/<model>/<label>/ (default: visual_res)",
    )
    p.add_argument(
        "--save-label",
        default=None,
        type=plain_name("--save-label"),
        help="use this folder name instead of the video's label (a plain name)",
    )
    add_picture_arguments(p)
    p.add_argument(
        "--traceback", action="store_true", help="print the full traceback of a failing video"
    )
    p.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain every video; returns 1 when one failed, 0 otherwise."""
    output_folder(args.out)  # an existing file fails here, before any work
    if args.video:
        video = Path(args.video)
        if not video.exists():
            raise CommandError(f"--video {args.video!r} does not exist")
        videos = [video]
    else:
        try:
            videos = find_videos(args.videos_dir, name="--videos-dir")
        except (FileNotFoundError, PermissionError) as err:
            raise CommandError(str(err)) from None
    device = device_of(args)
    adapter = load_model(args, device)
    clip_len, sampling, preprocess = adapter_reading(adapter)
    names = adapter.class_names
    request = target_request(args.target, names)
    method = build_method(args, adapter)
    announce(method, adapter, device, preset_of(args))
    failures = 0
    for path in videos:
        label = label_of(path)
        try:
            clip = load_clip(path, clip_len=clip_len, sampling=sampling, preprocess=preprocess).to(
                device
            )
            stem = safe_name(clip_stem(path))
            probs = torch.empty(0)
            if request.top:
                with torch.no_grad():
                    probs = torch.softmax(adapter(clip).float(), dim=1)[0]
            label_class = class_from_label(label, names, strict=False)
            for target in request.for_clip(probs, label_class):
                explain_one(args, method, adapter, clip, path, stem, target, request.several)
        except Exception as err:  # one bad video is reported and skipped; the others finish
            failures += 1
            print(f"error: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            if args.traceback:
                traceback.print_exc()
            if isinstance(err, OSError) and err.errno in _FULL:
                print(
                    "the disk is full: the files written so far are kept; free some space and run "
                    "the command again",
                    file=sys.stderr,
                )
                return 2
    print(
        f"{len(videos) - failures} of {len(videos)} videos explained"
        + (f", {failures} failed" if failures else "")
    )
    return 1 if failures else 0


def explain_one(
    args: argparse.Namespace,
    method: Method,
    adapter: Any,
    clip: torch.Tensor,
    path: Path,
    stem: str,
    target: int | None,
    several: bool,
) -> None:
    """Explain one clip for one target and write its files (``<stem>.<class>.*`` for several)."""
    from videoattr.pipeline import explain_clip, write_outputs

    names = adapter.class_names
    out = Path(args.out)
    result = explain_clip(adapter, method, clip, target, key=stem)
    if several:
        name = names[result.target] if names else str(result.target)
        stem = safe_name(f"{stem}.{name}")
    settings = {
        "model": args.model,
        "weights": weights_record(args),
        "video": str(path),
        "preset": preset_of(args),
        "settings": method.config,
    }
    folder = out / safe_name(method.name) / safe_name(args.model)
    paths = write_outputs(
        folder / (args.save_label or safe_name(label_of(path))),
        stem,
        clip,
        result,
        mean=adapter.mean,
        std=adapter.std,
        class_names=names,
        method=method.name,
        areas=method.areas,
        settings=settings,
        fps=args.fps,
        root=out,
        random_weights=weights_record(args) == "random",
        scale=args.scale,
        note=path.name,
    )
    pred = names[result.prediction] if names else result.prediction
    extra = (
        f", preserved prob {', '.join(f'{p:.3f}' for p in result.preserved_prob)}"
        if result.preserved_prob
        else ""
    )
    print(
        f"{path.name}: predicted {pred} ({result.prediction_prob:.3f}), explained class "
        f"{result.target}{extra}, {result.seconds:.1f}s"
    )
    for kind, p in paths.items():
        print(f"  {kind}: {p}")
