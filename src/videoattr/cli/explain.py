"""``videoattr explain``: explain videos and write the pictures, the maps and a JSON summary.

Each video becomes one clip of the model's length (its frame sampling), or, with ``--whole-video``,
sliding windows over every frame (``--window-stride``, ``--frame-step``), explained with
[`explain_video`][videoattr.pipeline.explain_video] and stitched into one map per frame, with the
timeline of the target's probability per window
([`write_video_outputs`][videoattr.pipeline.write_video_outputs]).

Files go to ``OUT/<method>/<model>/<label>/<video name>.{gif,mp4,png,npz,json}`` (and
``<video name>.timeline.png`` with ``--whole-video``). Every part of that
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
from typing import TYPE_CHECKING, Any, Literal

import torch

from videoattr.cli.loading import load_model, weights_record, weights_settings
from videoattr.cli.methods import (
    announce,
    build_method,
    preset_of,
    target_request,
)
from videoattr.cli.options import (
    DEFAULT_METHOD,
    CommandError,
    add_method_arguments,
    add_picture_arguments,
    add_whole_video_arguments,
    check_picture_scale,
    check_whole_video,
    device_of,
    output_folder,
    picture_fps,
    plain_name,
)
from videoattr.core.targets import TargetRequest
from videoattr.datasets.folders import (
    adapter_reading,
    class_file_name,
    class_from_label,
    label_of,
    list_videos,
    load_clip,
    safe_name,
    skipped_note,
    unique_ids,
)
from videoattr.io.overwrite import OutputGuard, OverwriteError

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
    add_whole_video_arguments(p)
    p.add_argument(
        "--traceback", action="store_true", help="print the full traceback of a failing video"
    )
    p.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain every video; returns 1 when one failed, 0 otherwise."""
    output_folder(args.out)  # an existing file fails here, before any work
    check_whole_video(args)
    if args.video:
        video = Path(args.video)
        if not video.exists():
            raise CommandError(f"--video {args.video!r} does not exist")
        if not (video.is_file() or video.is_dir()):
            raise CommandError(
                f"--video {args.video!r} is not a regular file or a folder (a pipe or a device?)"
            )
        videos = [video]
    else:
        try:  # the command's own outputs inside --videos-dir are no videos
            videos, skipped = list_videos(
                args.videos_dir,
                name="--videos-dir",
                exclude=[args.out, Path(args.out) / safe_name(args.method)],
            )
        except (FileNotFoundError, PermissionError) as err:
            raise CommandError(str(err)) from None
        note = skipped_note(skipped)
        if note:
            print(f"note: {note}", file=sys.stderr)
    stems = dict(zip(videos, unique_ids(videos), strict=True))  # one output per source
    device = device_of(args)
    adapter = load_model(args, device)
    clip_len, sampling, preprocess = adapter_reading(adapter)
    check_picture_scale(args, adapter)
    names = adapter.class_names
    request = target_request(args.target, names)
    if args.whole_video and args.window_stride is not None and args.window_stride > clip_len:
        raise CommandError(
            f"--window-stride must be at most the model's clip length ({clip_len}), so that every "
            f"frame lies in a window; got {args.window_stride}"
        )
    # whole videos show one progress bar over the windows instead of one per window batch
    method = build_method(args, adapter, progress=not args.whole_video)
    guard = _guard(args, method, videos, stems, request, names)
    announce(
        method,
        adapter,
        device,
        preset_of(args),
        clips=len(videos),
        suggest_step=method.name == DEFAULT_METHOD,
    )
    if args.whole_video and method.is_perturbation:
        print(
            "  (--whole-video: that time is per window; a video of N frames has about "
            "N / --window-stride windows)",
            file=sys.stderr,
        )
    failures = 0
    for number, path in enumerate(videos, 1):
        if len(videos) > 1:  # which video the method's bar is about
            print(f"[{number}/{len(videos)}] {path.name}", file=sys.stderr)
        label = label_of(path)
        try:
            if args.whole_video:
                explain_whole_video(args, method, adapter, path, request, stems[path], guard)
                continue
            clip = load_clip(path, clip_len=clip_len, sampling=sampling, preprocess=preprocess).to(
                device
            )
            label_class = class_from_label(label, names, strict=False)
            target = request.for_clips([label_class])
            explain_one(args, method, adapter, clip, path, stems[path], target, request, guard)
        except OverwriteError:
            raise  # never a single video's failure: the command stops
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
    target: Any,
    request: TargetRequest,
    guard: OutputGuard | None = None,
) -> None:
    """Explain one clip for its classes (``target``, see
    `videoattr.pipeline.explain.explain_targets`) and write the files of each
    (``<stem>.<class>.*`` when ``request`` asks for several)."""
    from videoattr.pipeline.explain import explain_targets

    results = explain_targets(adapter, method, clip, target, keep_preserved=True, keys=[stem])[0]
    for result in results:
        file_stem = stem
        if request.several:
            file_stem = safe_name(f"{stem}.{class_file_name(result_name(adapter, result.target))}")
        _write_one(args, method, adapter, clip, path, file_stem, result, guard)


def result_name(adapter: Any, index: int) -> str:
    """The name of class ``index`` (its index as text for a model without class names)."""
    names = adapter.class_names
    return str(names[index]) if names else str(index)


def _write_one(
    args: argparse.Namespace,
    method: Method,
    adapter: Any,
    clip: torch.Tensor,
    path: Path,
    stem: str,
    result: Any,
    guard: OutputGuard | None,
) -> None:
    """Write one explained class's files and say what they hold."""
    from videoattr.pipeline import write_outputs

    names = adapter.class_names
    out = Path(args.out)
    settings, folder = _record_and_folder(args, method, path, out)
    paths = write_outputs(
        folder,
        stem,
        clip,
        result,
        mean=adapter.mean,
        std=adapter.std,
        class_names=names,
        method=method.name,
        areas=method.areas,
        settings=settings,
        fps=picture_fps(args),
        root=out,
        random_weights=weights_record(args) == "random",
        scale=args.scale,
        note=path.name,
        guard=guard,
        owner=_owner(path),
    )
    pred = names[result.prediction] if names else result.prediction
    extra = (
        f", preserved prob {', '.join(f'{p:.3f}' for p in result.preserved_prob)}"
        if result.preserved_prob
        else ""
    )
    explained = f"{names[result.target]} ({result.target})" if names else str(result.target)
    print(
        f"{path.name}: predicted {pred} ({result.prediction_prob:.3f}), explained class "
        f"{explained}{extra}, {result.seconds:.1f}s"
    )
    for kind, p in paths.items():
        print(f"  {kind}: {p}")


def explain_whole_video(
    args: argparse.Namespace,
    method: Method,
    adapter: Any,
    path: Path,
    request: TargetRequest,
    stem: str | None = None,
    guard: OutputGuard | None = None,
) -> None:
    """Explain one video with sliding windows for each requested target and write its files."""
    from videoattr.pipeline import (
        SHEET_FRAMES,
        explain_video_classes,
        read_frames,
        write_video_outputs,
    )

    names = adapter.class_names
    out = Path(args.out)
    stem = stem or unique_ids([path])[0]
    video = read_frames(path, adapter, frame_step=args.frame_step or 1)
    stride = args.window_stride or max(1, adapter.clip_len // 2)
    short: Literal["pad", "error"] = "error" if args.short_video == "error" else "pad"
    label_class = class_from_label(label_of(path), names, strict=False)
    results = explain_video_classes(  # each written before the next is computed
        adapter,
        method,
        video,
        [label_class] if request.uses_labels else request,
        stride=stride,
        short_video=short,
        max_batch_size=args.max_batch_size,
        key=stem,
        progress=not args.no_progress,
    )
    for result in results:
        file_stem = stem
        if request.several:
            file_stem = safe_name(f"{stem}.{class_file_name(result.class_name(result.target))}")
        settings, folder = _record_and_folder(args, method, path, out)
        paths = write_video_outputs(
            folder,
            file_stem,
            video,
            result,
            method=method.name,
            settings=settings,
            fps=args.fps,
            root=out,
            random_weights=weights_record(args) == "random",
            scale=args.scale,
            note=path.name,
            sheet_frames=args.sheet_frames or SHEET_FRAMES,
            guard=guard,
            owner=_owner(path),
        )
        p = result.target_probability
        print(
            f"{path.name}: {result.num_frames} frames, {len(p)} windows of {result.clip_len} "
            f"(stride {result.stride}); explained class {result.class_name(result.target)}: "
            f"p(target | window) mean {float(p.mean()):.3f}, {result.best_window()}; "
            f"{result.seconds:.1f}s"
        )
        for kind, file in paths.items():
            print(f"  {kind}: {file}")


def _record_and_folder(
    args: argparse.Namespace, method: Any, path: Path, out: Path
) -> tuple[dict[str, Any], Path]:
    """The run record written with a video's results, and the folder they go to."""
    settings = {
        "model": args.model,
        **weights_settings(args),
        "video": str(path),
        "preset": preset_of(args),
        "settings": method.config,
    }
    folder = out / safe_name(method.name) / safe_name(args.model)
    return settings, folder / (args.save_label or safe_name(label_of(path)))


def _owner(path: Path) -> str:
    """Whose outputs a video's files are (the ledger's owner): the video's absolute path."""
    return str(path.resolve())


def _guard(
    args: argparse.Namespace,
    method: Any,
    videos: list[Path],
    stems: dict[Path, str],
    request: Any,
    names: Any,
) -> OutputGuard:
    """The output guard, with every file the command may write checked before any work.

    Raises:
        CommandError: a file would replace an input, or an existing file that is not this
            command's own output for the same video (one line naming both).
    """
    from videoattr.pipeline.outputs import output_files

    inputs = [*videos, *([args.weights] if args.weights else [])]
    guard = OutputGuard(args.out, inputs, recognise=_written_before)
    if request.several:  # the class names in the file names: the listed classes, else any class
        classes = request.classes or range(len(names) if names else request.top)
        suffixes = [class_file_name(names[c] if names else str(c)) for c in classes]
    else:
        suffixes = [""]
    try:
        for path in videos:
            _, folder = _record_and_folder(args, method, path, Path(args.out))
            for suffix in suffixes:
                stem = safe_name(f"{stems[path]}.{suffix}") if suffix else stems[path]
                for file in output_files(folder, stem, video=args.whole_video).values():
                    guard.check(file, _owner(path))
    except OverwriteError as err:
        raise CommandError(str(err)) from None
    return guard


def _written_before(path: Path, owner: str) -> bool:
    """Whether ``path`` is an output of ``explain`` for the video ``owner`` written before output
    folders had a ledger: its JSON record (the same stem) names the file and that video."""
    import json

    name = path.name
    ending = next((e for e in (".timeline.png", ".gif", ".mp4", ".png", ".npz", ".json")
                   if name.endswith(e)), None)  # fmt: skip
    if ending is None:
        return False
    record = path.with_name(name[: -len(ending)] + ".json")
    try:
        data = json.loads(record.read_text())
        listed = name == record.name or name in data["files"].values()
        return bool(listed) and str(Path(data["video"]).resolve()) == owner
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
