"""What a person looks at for a whole video: the overlay video, a sheet with the timeline, the maps
and the JSON record of a [`VideoExplanation`][videoattr.pipeline.VideoExplanation]."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from videoattr.core.validation import check_positive_int
from videoattr.io.overwrite import OutputGuard
from videoattr.io.video_frames import VideoFrames
from videoattr.pipeline.outputs import (
    OUTPUT_KINDS,
    check_inside,
    check_scale,
    claim_files,
    key_settings,
    output_files,
    write_then_rename,
)
from videoattr.pipeline.records import VideoRecord
from videoattr.pipeline.video_explanation import VideoExplanation

__all__ = ["SHEET_FRAMES", "render_video_sheet", "sheet_positions", "write_video_outputs"]

#: Frames a whole video's sheet shows when not told otherwise.
SHEET_FRAMES = 8


def sheet_positions(num_sampled: int, count: int = SHEET_FRAMES) -> list[int]:
    """``count`` sampled positions evenly spread over ``num_sampled`` frames (all when fewer), first
    and last included: ``round_half_up(linspace(0, M - 1, count))``.

    Example:
        >>> sheet_positions(64, 4)
        [0, 21, 42, 63]
    """
    m = check_positive_int(num_sampled, "num_sampled")
    k = min(check_positive_int(count, "count"), m)
    if k == 1:
        return [0]
    return [(2 * i * (m - 1) + k - 1) // (2 * (k - 1)) for i in range(k)]


def _style(result: VideoExplanation, polarity: str | None) -> Any:
    """One colour scale for the whole video: masks ``(0, 1)``, signed maps ``(-m, m)`` with
    ``m = max |map|``, other maps their whole-video ``(min, max)``; so the frames compare."""
    from videoattr.viz import OverlayStyle

    if result.areas:
        return OverlayStyle(value_range=(0.0, 1.0))
    maps = result.maps
    if polarity == "signed":
        m = float(maps.abs().max()) if maps.numel() else 0.0
        m = m if m > 0 else 1.0
        return OverlayStyle(polarity="signed", value_range=(-m, m))
    lo, hi = (float(maps.min()), float(maps.max())) if maps.numel() else (0.0, 1.0)
    return OverlayStyle(value_range=(lo, hi if hi > lo else lo + 1.0))


def _caption(
    result: VideoExplanation,
    method: str,
    settings: Mapping[str, Any],
    random_weights: bool,
    note: str | None,
) -> Any:
    from videoattr.viz import SheetCaption

    p = result.target_probability
    mean = result.probabilities.mean(dim=0)
    top = int(mean.argmax())
    about = (
        f"{result.num_frames} frames"
        + (f" ({result.num_frames / result.fps:.1f} s)" if result.fps else "")
        + f", {len(p)} window{'s' if len(p) != 1 else ''} of {result.clip_len} frames, "
        f"stride {result.stride}"
        + (f", one frame in {result.frame_step}" if result.frame_step > 1 else "")
    )
    return SheetCaption(
        target=f"{result.target_name or result.target} (mean p(target | window) = "
        f"{float(p.mean()):.3f}, {result.best_window()})",
        prediction=f"{result.class_name(top)} (mean p = {float(mean[top]):.3f})",
        method=method or None,
        settings=settings,
        random_weights=random_weights,
        note=f"{note}: {about}" if note else about,
    )


def render_video_sheet(
    video: VideoFrames,
    result: VideoExplanation,
    *,
    method: str = "",
    settings: Mapping[str, Any] | None = None,
    polarity: str | None = None,
    frames: int = SHEET_FRAMES,
    scale: int | None = None,
    random_weights: bool = False,
    note: str | None = None,
) -> Tensor:
    """The sheet of a whole video: ``frames`` evenly spread frames and their maps, the timeline below.

    The maps share one colour scale over the whole video, so the shown frames compare.
    The timeline marks the shown frames.

    Args:
        video: the sampled frames (for the pictures).
        result: their explanation.
        method: the method's name for the header. Default ``""``.
        settings: the key settings for the header. Default none.
        polarity: ``"signed"`` for signed maps (a diverging colour map around 0). Default ``None``.
        frames: how many frames the sheet shows. Default 8.
        scale: integer magnification of the cells; default: the sheet's own choice.
        random_weights: the model has no trained weights (the header says so). Default ``False``.
        note: one more header line (e.g. the video's name). Default none.

    Returns:
        uint8 image ``(H, W, 3)``.
    """
    from videoattr.viz import render_sheet, render_timeline

    positions = sheet_positions(len(video), frames)
    style = _style(result, polarity)
    pictures = video.pictures()[positions].unsqueeze(0)
    caption = _caption(result, method, dict(settings or {}), random_weights, note)
    map_names = [f"area {a:g}" for a in result.areas] if result.areas else None
    shown = [int(result.frame_indices[p]) for p in positions]
    sheet = render_sheet(
        pictures,
        result.maps[:, positions].unsqueeze(0),
        caption=caption,
        style=style,
        map_names=map_names,
        frame_indices=shown,
        fps=result.fps,
        scale=scale,
    )
    names = [result.class_name(int(k)) for k in result.prediction]
    width = max(int(sheet.image.shape[1]), 480)
    timeline = render_timeline(
        result.window_starts,
        result.window_ends,
        result.target_probability,
        num_frames=result.num_frames,
        fps=result.fps,
        target_name=result.target_name or str(result.target),
        top_probability=result.prediction_probability,
        top_names=names,
        marks=shown,
        width=width,
        subtitle=f"{result.clip_len}-frame windows, stride {result.stride}",
    )
    return _stack([sheet.image, timeline.image])


def _stack(images: Sequence[Tensor]) -> Tensor:
    width = max(int(im.shape[1]) for im in images)
    padded = [
        torch.nn.functional.pad(im.permute(2, 0, 1), (0, width - im.shape[1]), value=255).permute(
            1, 2, 0
        )
        for im in images
    ]
    return torch.cat(padded, dim=0)


def write_video_outputs(
    out_dir: str | Path,
    stem: str,
    video: VideoFrames,
    result: VideoExplanation,
    *,
    method: str = "",
    settings: Mapping[str, Any] | None = None,
    kinds: Sequence[str] = OUTPUT_KINDS,
    fps: float | None = None,
    root: str | Path | None = None,
    random_weights: bool = False,
    scale: int | None = None,
    note: str | None = None,
    sheet_frames: int = SHEET_FRAMES,
    guard: OutputGuard | None = None,
    owner: str = "",
) -> dict[str, Path]:
    """Write a whole video's overlay GIF/MP4, its sheet with the timeline, the maps and a JSON record.

    Files are ``out_dir/stem.{gif,mp4,png,npz,json}`` plus ``stem.timeline.png`` (with ``"png"``),
    each written to a temporary name and renamed. The videos show every sampled frame (input |
    maps, one colour scale for the whole video) above a small timeline of ``p(target | window)``
    with a red line at the frame shown; the ``.npz`` holds ``maps`` ``(A, M, H, W)``
    float32, ``frame_indices``, ``coverage``, ``window_starts``, ``window_ends``,
    ``probabilities`` ``(W, K)``, ``target`` and ``areas``; the JSON is
    [`VideoExplanation.summary`][videoattr.pipeline.video_explanation.VideoExplanation.summary] with ``settings``
    added.

    Args:
        out_dir: the folder of the files.
        stem: the file name without its ending (a plain name).
        video: the sampled frames.
        result: their explanation.
        method: the method's name. Default ``""``.
        settings: extra JSON values recorded in the summary; the method's configuration under
            ``"settings"``. Default none.
        kinds: which files to write. Default all of ``OUTPUT_KINDS`` (gif, mp4, png, npz, json).
        fps: frame rate of the GIF/MP4; default the video's rate divided by ``frame_step``, else 8.
        root: when given, every file must lie inside this folder.
        random_weights: the model has no trained weights (the pictures say so). Default ``False``.
        scale: integer magnification of the pictures; default: their own choice (cells and
            panels at least 96 pixels high).
        note: one more header line (e.g. the video's name). Default none.
        sheet_frames: frames shown in the sheet. Default 8.
        guard: when given, every file is checked with it before anything is written (see
            `write_outputs`). Default none.
        owner: what the files belong to, for ``guard``. Default ``""``.

    Returns:
        The path of every file written, by kind (``"timeline"`` for the timeline picture).

    Raises:
        ValueError: ``stem`` is not a plain file name, or a file would lie outside ``root``.
        OverwriteError: (with ``guard``) a file would replace an input or a file the command did
            not write (nothing is written).
    """
    from videoattr.viz import SheetCaption, panels, save_gif, save_mp4

    if not stem or stem != Path(stem).name or stem in (".", "..") or "\\" in stem:
        raise ValueError(f"stem must be a plain file name; got {stem!r}")
    out = Path(out_dir)
    if root is not None:
        check_inside(out, root)
    size = video.frames.shape[-2:] if video.is_clip else video.frames.shape[-3:-1]
    check_scale(scale, int(size[0]), int(size[1]))
    planned = claim_files(output_files(out, stem, kinds, video=True), root, guard, owner)
    out.mkdir(parents=True, exist_ok=True)
    recorded = dict(settings or {})
    config = recorded.get("settings")
    config = config if isinstance(config, Mapping) else {}
    polarity = config.get("polarity") if isinstance(config.get("polarity"), str) else None
    area_text = ", ".join(f"{a:g}" for a in result.areas) if result.areas else None
    shown_settings = key_settings(config, area=area_text, preset=recorded.get("preset"))
    paths: dict[str, Path] = {}

    def target_path(kind: str) -> tuple[Path, Path]:
        return planned[kind]

    if "gif" in kinds or "mp4" in kinds:
        style = _style(result, polarity)
        caption = SheetCaption(
            method=method or None,
            target=result.target_name or result.target,
            random_weights=random_weights,
            note=note,
        )
        movie = panels(
            video.pictures().unsqueeze(0),
            result.maps.unsqueeze(0),
            style=style,
            caption=caption,
            frame_indices=result.frame_indices.tolist(),
            fps=result.fps,
            scale=scale,
        )
        from videoattr.viz.timeline import timeline_strip, with_cursor

        strip = timeline_strip(
            result.window_starts,
            result.window_ends,
            result.target_probability,
            num_frames=result.num_frames,
            width=int(movie.shape[2]),
        )
        movie = torch.cat(
            [
                movie,
                torch.stack(
                    [with_cursor(strip, int(f), result.num_frames) for f in result.frame_indices]
                ),
            ],
            dim=1,
        )
        rate = fps if fps is not None else (result.fps / result.frame_step if result.fps else 8.0)
        for kind, writer in (("gif", save_gif), ("mp4", save_mp4)):
            if kind in kinds:
                final, tmp = target_path(kind)
                paths[kind] = write_then_rename(
                    final, tmp, guard, lambda p, w=writer: w(p, movie, fps=rate)
                )
        del movie
    if "png" in kinds:
        from PIL import Image

        from videoattr.viz import render_timeline

        image = render_video_sheet(
            video,
            result,
            method=method,
            settings=shown_settings,
            polarity=polarity,
            frames=sheet_frames,
            scale=scale,
            random_weights=random_weights,
            note=note,
        )
        final, tmp = target_path("png")
        paths["png"] = write_then_rename(
            final, tmp, guard, lambda p: Image.fromarray(image.numpy()).save(p, format="PNG")
        )
        timeline = render_timeline(
            result.window_starts,
            result.window_ends,
            result.target_probability,
            num_frames=result.num_frames,
            fps=result.fps,
            target_name=result.target_name or str(result.target),
            top_probability=result.prediction_probability,
            top_names=[result.class_name(int(k)) for k in result.prediction],
            subtitle=f"{result.clip_len}-frame windows, stride {result.stride}",
        )
        final, tmp = target_path("timeline")
        paths["timeline"] = write_then_rename(
            final, tmp, guard, lambda p: timeline.to_pil().save(p, format="PNG")
        )
    if "npz" in kinds:
        final, tmp = target_path("npz")

        def save_npz(p: Path) -> None:
            np.savez_compressed(
                p,
                maps=result.maps.numpy().astype(np.float32),
                frame_indices=result.frame_indices.numpy(),
                coverage=result.coverage.numpy(),
                window_starts=result.window_starts.numpy(),
                window_ends=result.window_ends.numpy(),
                probabilities=result.probabilities.numpy().astype(np.float32),
                target=np.asarray(result.target),
                areas=np.asarray(list(result.areas), dtype=np.float64),
            )

        paths["npz"] = write_then_rename(final, tmp, guard, save_npz)
    if "json" in kinds:
        final, tmp = target_path("json")
        summary = VideoRecord([result], extra=recorded).to_meta(scores=False)
        summary["files"] = {k: p.name for k, p in paths.items()}
        text = json.dumps(summary, indent=2)
        paths["json"] = write_then_rename(final, tmp, guard, lambda p: p.write_text(text))
    return paths
