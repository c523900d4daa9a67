"""``videoattr render RUN_DIR``: the pictures of a finished run, without recomputing attributions.

It reads what the run stored (``run.json``: model and method; each result: the maps, the target and
prediction with their probabilities, the preserved probabilities and the source video), reads each
source video again with the model's frame sampling and preprocessing, and writes the same GIF, MP4
and PNG sheet that ``videoattr explain`` writes for that clip. Only the preserved clips of the
perturbation methods are rebuilt from the stored masks (a blur, no model call). The results of a
``videoattr run --whole-video`` get what ``videoattr explain --whole-video`` writes: the video with
its maps, the sheet and the timeline of the target's probability per window (``--sheet-frames``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from videoattr.cli.options import (
    CommandError,
    add_picture_arguments,
    check_picture_scale,
    output_folder,
    picture_fps,
    positive_int,
)
from videoattr.io.overwrite import OutputGuard, OverwriteError


def _formats(text: str) -> list[str]:
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ("gif", "mp4", "png")]
    if not kinds or bad:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of gif, mp4, png; got {text!r}"
        )
    return kinds


def add_parser(sub: Any) -> None:
    """Register ``render``."""
    p = sub.add_parser(
        "render",
        help="write the pictures of a finished `videoattr run` (no attribution is recomputed)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the output folder of `videoattr run`")
    p.add_argument(
        "--format",
        type=_formats,
        default=["gif", "mp4", "png"],
        help="pictures to write, comma-separated from gif, mp4, png (default: gif,mp4,png)",
    )
    p.add_argument("--out", default=None, help="where the pictures go (default: RUN_DIR/pictures)")
    p.add_argument(
        "--sheet-frames",
        type=positive_int,
        default=None,
        metavar="N",
        help="frames shown in the PNG sheet of a whole-video result (default: 8)",
    )
    add_picture_arguments(p)
    p.set_defaults(func=cmd_render)


def cmd_render(args: argparse.Namespace) -> int:
    """Render every complete result of ``RUN_DIR``; returns 1 when one failed."""
    import torch

    from videoattr import zoo
    from videoattr.datasets.folders import adapter_reading, class_file_name, load_clip, safe_name
    from videoattr.methods.registry import method_info, method_names
    from videoattr.pipeline import perturbation_from_config, preserved_clips, write_outputs
    from videoattr.pipeline.records import ClipRecord
    from videoattr.runner.dataset import result_mismatch
    from videoattr.runner.guard import read_record
    from videoattr.runner.store import ResultStore

    root = Path(args.run_dir)
    if not (root / "run.json").is_file():
        raise CommandError(
            f"RUN_DIR {args.run_dir!r} holds no run.json: not a `videoattr run` folder"
        )
    config = read_record(root / "run.json")["config"]
    out = output_folder(args.out or str(root / "pictures"))
    model_name = config.get("model")
    if not isinstance(model_name, str):
        raise CommandError(
            f"{root / 'run.json'}: config.model must be a model name; got {model_name!r}"
        )
    weights = config.get("weights")
    weights = weights if isinstance(weights, str) and Path(weights).is_file() else None
    adapter = zoo.load(model_name, weights=weights).eval()  # preprocessing and class names only
    clip_len, sampling, preprocess = adapter_reading(adapter)
    check_picture_scale(args, adapter)
    store = ResultStore(root)
    ids = sorted(store.complete_ids())
    if not ids:
        raise CommandError(f"RUN_DIR {args.run_dir!r} holds no complete results")
    guard = _guard(args, root, store, ids, config, adapter.class_names, out)
    failures = 0
    for clip_id in ids:
        try:
            maps, meta = store.read_result(clip_id)
            source = meta.get("source")
            if not isinstance(source, str):
                raise ValueError(f"result {clip_id} records no source video")
            mismatch = result_mismatch(clip_id, meta, source)
            if mismatch is not None:
                raise ValueError(f"{mismatch}: rerun `videoattr run` to redo it")
            owner = _owner(root, clip_id)
            if isinstance(config.get("whole_videos"), dict):  # videoattr run --whole-video
                files = _render_whole_video(
                    args, adapter, clip_id, maps, meta, config, out, guard, owner
                )
                print(f"{clip_id}: " + ", ".join(str(p) for p in files))
                continue
            clip = load_clip(source, clip_len=clip_len, sampling=sampling, preprocess=preprocess)
            record = ClipRecord.from_meta(meta)
            method = record.method or str(config.get("method", ""))
            names = adapter.class_names
            written: list[Path] = []
            preserved = None
            if method in method_names() and method_info(method).kind == "perturbation":
                pyramid = perturbation_from_config(clip, record.settings)
                stacks = maps if record.several else maps[None]
                preserved = [
                    preserved_clips(pyramid, clip, torch.from_numpy(stack)[None])
                    for stack in stacks
                ]
            for result in record.explanations(maps, preserved):
                stem = clip_id
                if record.several:
                    name = names[result.target] if names else str(result.target)
                    stem = safe_name(f"{clip_id}.{class_file_name(name)}")
                written.extend(
                    write_outputs(
                        out,
                        stem,
                        clip,
                        result,
                        mean=adapter.mean,
                        std=adapter.std,
                        class_names=adapter.class_names,
                        method=method,
                        areas=record.areas,
                        settings={
                            "model": model_name,
                            "weights": config.get("weights"),
                            "video": source,
                            "preset": record.extra.get("preset", config.get("preset")),
                            "settings": record.settings,
                        },
                        kinds=args.format,
                        fps=picture_fps(args),
                        root=out,
                        random_weights=config.get("weights") == "random",
                        scale=args.scale,
                        note=Path(source).name,
                        guard=guard,
                        owner=owner,
                    ).values()
                )
            print(f"{clip_id}: " + ", ".join(str(p) for p in written))
        except OverwriteError:
            raise  # never one clip's failure: the command stops
        except Exception as err:  # one clip that cannot be rendered is reported; the rest go on
            failures += 1
            print(f"error: {clip_id}: {type(err).__name__}: {err}", file=sys.stderr)
    print(
        f"{len(ids) - failures} of {len(ids)} results rendered into {out}"
        + (f", {failures} failed" if failures else "")
    )
    return 1 if failures else 0


def _render_whole_video(
    args: argparse.Namespace,
    adapter: Any,
    clip_id: str,
    maps: Any,
    meta: dict[str, Any],
    config: dict[str, Any],
    out: Path,
    guard: OutputGuard,
    owner: str,
) -> list[Path]:
    """The pictures of one whole-video result: its video with the maps, its sheet and timeline."""
    from videoattr.datasets.folders import class_file_name, safe_name
    from videoattr.pipeline import SHEET_FRAMES, read_frames, write_video_outputs
    from videoattr.pipeline.records import VideoRecord

    source = str(meta["source"])
    step = int(config["whole_videos"].get("frame_step", 1))
    video = read_frames(source, adapter, frame_step=step)
    if (video.num_frames, len(video)) != (meta["num_frames"], len(meta["frame_indices"])):
        raise ValueError(
            f"{source} now has {video.num_frames} frames ({len(video)} sampled); the result was "
            f"made of {meta['num_frames']} ({len(meta['frame_indices'])} sampled): the video "
            "changed since the run"
        )
    record = VideoRecord.from_meta(meta, maps, adapter.class_names)
    results = record.results
    written: list[Path] = []
    for result in results:
        stem = clip_id
        if len(results) > 1 or record.several:
            stem = safe_name(f"{clip_id}.{class_file_name(result.class_name(result.target))}")
        paths = write_video_outputs(
            out,
            stem,
            video,
            result,
            method=result.method,
            settings={
                "model": config.get("model"),
                "weights": config.get("weights"),
                "video": source,
                "preset": record.extra.get("preset", config.get("preset")),
                "settings": record.extra.get("settings", {}),
            },
            kinds=args.format,
            fps=args.fps,
            root=out,
            random_weights=config.get("weights") == "random",
            scale=args.scale,
            note=Path(source).name,
            sheet_frames=args.sheet_frames or SHEET_FRAMES,
            guard=guard,
            owner=owner,
        )
        written.extend(paths.values())
    return written


def _owner(root: Path, clip_id: str) -> str:
    """Whose pictures a result's files are (the ledger's owner): the result of the run."""
    return f"result {clip_id} of the run {root.resolve()}"


def _guard(
    args: argparse.Namespace,
    root: Path,
    store: Any,
    ids: list[str],
    config: dict[str, Any],
    class_names: Any,
    out: Path,
) -> OutputGuard:
    """The output guard, with every picture the command may write checked before any work: the
    run's files and every result's source video are inputs, and an existing file is replaced only
    when an earlier render of the same result wrote it.

    Raises:
        CommandError: a picture would replace an input or a file that is not this run's picture of
            the same result (one line naming both).
    """
    from videoattr.datasets.folders import class_file_name, safe_name
    from videoattr.pipeline.outputs import output_files
    from videoattr.runner.guard import RUN_FILES

    guard = OutputGuard(
        out, [root / "run.json", *(root / f for f in RUN_FILES if (root / f).exists())]
    )
    whole = isinstance(config.get("whole_videos"), dict)
    metas = {}
    for clip_id in ids:
        try:
            metas[clip_id] = store.read_meta(clip_id)
        except (OSError, ValueError):
            continue  # reported when the result is rendered
        source = metas[clip_id].get("source")
        if isinstance(source, str) and Path(source).exists():
            guard.add_inputs([source])
    try:
        for clip_id, meta in metas.items():
            stems = [clip_id]
            several = meta.get("targets")
            if isinstance(several, list):
                stems = []
                for record in several:
                    target = record.get("target", record) if isinstance(record, dict) else {}
                    index = target.get("index") if isinstance(target, dict) else None
                    name = target.get("name") if isinstance(target, dict) else None
                    if not isinstance(name, str):
                        ok = (
                            isinstance(index, int) and class_names and 0 <= index < len(class_names)
                        )
                        name = class_names[index] if ok else str(index)
                    stems.append(safe_name(f"{clip_id}.{class_file_name(name)}"))
            for stem in stems:
                for file in output_files(out, stem, args.format, video=whole).values():
                    guard.check(file, _owner(root, clip_id))
    except OverwriteError as err:
        raise CommandError(str(err)) from None
    return guard
