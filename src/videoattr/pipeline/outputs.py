"""What a person looks at: the pictures, the maps and the JSON record of one explained clip."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from videoattr.io.overwrite import OutputGuard
from videoattr.pipeline.explain import ClipExplanation
from videoattr.pipeline.records import ClipRecord

#: Output files [`write_outputs`][videoattr.pipeline.write_outputs] can write.
OUTPUT_KINDS: tuple[str, ...] = ("gif", "mp4", "png", "npz", "json")


#: Settings worth naming in a picture's header, as ``config key -> label``.
KEY_SETTINGS: dict[str, str] = {
    "preset": "preset",
    "max_iter": "iterations",
    "optimizer": "optimizer",
    "steps": "steps",
    "n": "samples",
    "variant": "variant",
    "layer": "layer",
    "polarity": "polarity",
}


#: The longest side, in pixels, of one frame of a picture after ``scale``.
MAX_PICTURE_SIDE = 4096


def check_scale(scale: int | None, height: int, width: int, *, name: str = "scale") -> None:
    """Refuse a ``scale`` that makes a picture's frame larger than ``MAX_PICTURE_SIDE`` pixels a side
    (checked before anything is drawn).

    Raises:
        ValueError: one line naming ``name``, the frames' size and the largest scale allowed.
    """
    if scale is None:
        return
    if max(height, width) * scale > MAX_PICTURE_SIDE:
        most = max(1, MAX_PICTURE_SIDE // max(height, width))
        raise ValueError(
            f"{name} {scale} makes {width}x{height} frames {width * scale}x{height * scale} "
            f"pixels, more than {MAX_PICTURE_SIDE} a side; use at most {most}"
        )


def output_files(
    out_dir: str | Path, stem: str, kinds: Sequence[str] = OUTPUT_KINDS, *, video: bool = False
) -> dict[str, Path]:
    """The files [`write_outputs`][videoattr.pipeline.write_outputs] (``video=False``) or
    [`write_video_outputs`][videoattr.pipeline.write_video_outputs] (``video=True``: with ``"png"``
    also ``stem.timeline.png``, kind ``"timeline"``) writes for ``kinds``, by kind.

    Example:
        >>> sorted(output_files("out", "walk-1", ["png", "json"], video=True))
        ['json', 'png', 'timeline']
    """
    out = Path(out_dir)
    files = {k: out / f"{stem}.{k}" for k in OUTPUT_KINDS if k in kinds}
    if video and "png" in kinds:
        files["timeline"] = out / f"{stem}.timeline.png"
    return files


def claim_files(
    files: Mapping[str, Path],
    root: str | Path | None,
    guard: OutputGuard | None,
    owner: str,
) -> dict[str, tuple[Path, Path]]:
    """Check every file before anything is written: inside ``root``, and (with a ``guard``) neither
    an input nor a file the command did not write for ``owner``; returns ``kind -> (final,
    temporary)`` (the temporary is ``.<name>.partial`` beside the final file)."""
    out: dict[str, tuple[Path, Path]] = {}
    for kind, final in files.items():
        if root is not None:
            check_inside(final, root)
        if guard is not None:
            guard.claim(final, owner)
        out[kind] = (final, final.with_name(f".{final.name}.partial{final.suffix}"))
    return out


def write_then_rename(final: Path, tmp: Path, guard: OutputGuard | None, write: Any) -> Path:
    """``write(tmp)``, then rename ``tmp`` to ``final`` (and tell ``guard`` it is written); a failed
    write leaves neither behind.

    Raises:
        whatever ``write`` raises (the temporary file is removed first).
    """
    try:
        write(tmp)
        tmp.replace(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if guard is not None:
        guard.written(final)
    return final


def key_settings(config: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The few settings a picture names, from a method's configuration (and ``extra`` first).

    Example:
        >>> key_settings({"max_iter": 200, "optimizer": "adam", "lr": 0.05}, area="0.1")
        {'area': '0.1', 'iterations': 200, 'optimizer': 'adam'}
    """
    out = {k: v for k, v in extra.items() if v is not None}
    for key, label in KEY_SETTINGS.items():
        value = config.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            out.setdefault(label, value)
    return out


def write_outputs(
    out_dir: str | Path,
    stem: str,
    clip: Tensor,
    result: ClipExplanation,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Sequence[str] | None = None,
    method: str = "",
    areas: Sequence[float] = (),
    settings: Mapping[str, Any] | None = None,
    kinds: Sequence[str] = OUTPUT_KINDS,
    fps: float = 8.0,
    root: str | Path | None = None,
    random_weights: bool = False,
    scale: int | None = None,
    note: str | None = None,
    guard: OutputGuard | None = None,
    owner: str = "",
) -> dict[str, Path]:
    """Write the overlay GIF/MP4, the PNG sheet, the maps as ``.npz`` and a JSON summary.

    Files are ``out_dir/stem.{gif,mp4,png,npz,json}``; each is written to a temporary name and renamed,
    so a crash never leaves a half-written file under the final name. The maps are stored as float32.
    The sheet's header and the videos' caption strip come from one
    [`SheetCaption`][videoattr.viz.style.SheetCaption]: the explained target and
    ``p(target | clip)``, the prediction and ``p(prediction | clip)``, the method and its key
    settings ([`key_settings`][videoattr.pipeline.outputs.key_settings] of ``settings["settings"]``), ``p(target | preserved)`` for
    perturbation methods, and a visible note when the weights are random.

    Args:
        out_dir: the folder of the files.
        stem: the file name without its ending; must be a plain name (see
            `safe_name`).
        clip: the clip ``(1, C, T, H, W)`` (normalised).
        result: its explanation.
        mean, std: the normalisation to undo for the pictures.
        class_names: the model's class names. Default ``None``.
        method: the method's name, recorded in the JSON and the header. Default ``""``.
        areas: the perturbation areas. Default ``()``.
        settings: extra JSON values recorded in the summary (each under its own key; the method's
            configuration under ``"settings"``, the preset under ``"preset"``). Default none.
        kinds: which files to write. Default all of [`OUTPUT_KINDS`][videoattr.pipeline.outputs.OUTPUT_KINDS].
        fps: frame rate of the GIF/MP4. Default 8.
        root: when given, every file must lie inside this folder (checked on resolved paths).
        random_weights: the model has no trained weights (the pictures say so). Default ``False``.
        scale: integer magnification of the pictures; default ``None``: the sheet picks one so small
            inputs stay readable, the videos keep the clip's size.
        note: one more line for the header (e.g. the video's name). Default none.
        guard: when given, every file is checked with it (and recorded as ``owner``'s) before
            anything is written: an input, or an existing file it did not write for ``owner``, is
            refused (see [`OutputGuard`][videoattr.io.overwrite.OutputGuard]). Default none.
        owner: what the files belong to, for ``guard`` (e.g. the source video). Default ``""``.

    Returns:
        The path of every file written, by kind.

    Raises:
        ValueError: ``stem`` is not a plain file name, or a file would lie outside ``root``.
        OverwriteError: (with ``guard``) a file would replace an input or a file the command did
            not write (nothing is written).
    """
    from videoattr.viz import OverlayStyle, SheetCaption, panels, save_gif, save_mp4, save_sheet

    if not stem or stem != Path(stem).name or stem in (".", "..") or "\\" in stem:
        raise ValueError(f"stem must be a plain file name; got {stem!r}")
    out = Path(out_dir)
    if root is not None:
        check_inside(out, root)
    check_scale(scale, int(clip.shape[-2]), int(clip.shape[-1]))
    planned = claim_files(output_files(out, stem, kinds), root, guard, owner)
    out.mkdir(parents=True, exist_ok=True)
    perturbation = result.preserved is not None or bool(result.preserved_prob)
    names = list(class_names) if class_names is not None else None
    recorded = dict(settings or {})
    config = recorded.get("settings")
    config = config if isinstance(config, Mapping) else {}

    def name(i: int) -> str | int:
        return names[i] if names is not None and 0 <= i < len(names) else i

    area_text = ", ".join(f"{a:g}" for a in areas) if perturbation and areas else None
    caption = SheetCaption(
        target=name(result.target),
        target_probability=result.target_prob,
        prediction=name(result.prediction),
        prediction_probability=result.prediction_prob,
        method=method or None,
        settings=key_settings(config, area=area_text, preset=recorded.get("preset")),
        preserved_probability=list(result.preserved_prob) if result.preserved_prob else None,
        random_weights=random_weights,
        note=note,
    )
    style = OverlayStyle(
        value_range=(0.0, 1.0) if perturbation else None,
        polarity="signed" if config.get("polarity") == "signed" else None,
        mean=mean,
        std=std,
    )
    map_names = [f"area {a:g}" for a in areas] if perturbation and areas else None
    paths: dict[str, Path] = {}
    clip_cpu = clip.detach().cpu()

    def target_path(kind: str) -> tuple[Path, Path]:
        return planned[kind]

    if "gif" in kinds or "mp4" in kinds:
        video = panels(
            clip_cpu,
            result.maps,
            result.preserved,
            style=style,
            caption=caption,
            scale=scale,
            map_names=map_names,
        )
        for kind, writer in (("gif", save_gif), ("mp4", save_mp4)):
            if kind in kinds:
                final, tmp = target_path(kind)
                paths[kind] = write_then_rename(
                    final, tmp, guard, lambda p, w=writer: w(p, video, fps=fps)
                )
    if "png" in kinds:
        final, tmp = target_path("png")
        paths["png"] = write_then_rename(
            final,
            tmp,
            guard,
            lambda p: save_sheet(
                p,
                clip_cpu,
                result.maps,
                result.preserved,
                caption=caption,
                style=style,
                map_names=map_names,
                scale=scale,
            ),
        )
    if "npz" in kinds:
        final, tmp = target_path("npz")
        paths["npz"] = write_then_rename(
            final,
            tmp,
            guard,
            lambda p: np.savez_compressed(
                p,
                maps=result.maps[0].numpy().astype(np.float32),
                areas=np.asarray(list(areas), dtype=np.float64),
            ),
        )
    if "json" in kinds:
        final, tmp = target_path("json")
        summary = summary_dict(result, names, method=method, areas=areas, settings=recorded)
        summary["files"] = {k: p.name for k, p in paths.items()}
        text = json.dumps(summary, indent=2)
        paths["json"] = write_then_rename(final, tmp, guard, lambda p: p.write_text(text))
    return paths


def check_inside(path: str | Path, root: str | Path) -> Path:
    """``path`` resolved, checked to lie inside ``root`` (symbolic links followed).

    Raises:
        ValueError: the resolved path lies outside the resolved ``root``.
    """
    resolved = Path(path).resolve()
    base = Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(
            f"refusing to write {str(path)!r}: it lies outside the output folder {base}"
        )
    return resolved


def summary_dict(
    result: ClipExplanation,
    class_names: Sequence[str] | None,
    *,
    method: str,
    areas: Sequence[float],
    settings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON record of a [`ClipExplanation`][videoattr.pipeline.ClipExplanation] (what ``explain``'s JSON and a run's results hold).

    The record is a [`ClipRecord`][videoattr.pipeline.records.ClipRecord] (see its keys); every key
    of ``settings`` (``model``, ``settings``, ... as the caller gives them) follows.
    """
    record = ClipRecord.of([result], class_names, method=method, areas=areas, extra=settings)
    return record.to_meta()
