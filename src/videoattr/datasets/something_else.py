"""Something-Else boxes on Something-Something v2 videos.

The Something-Else annotation (Materzynska et al., CVPR 2020) boxes the hands and objects of every
frame of Something-Something v2 (SSv2) videos. Files, as published:

- ``bounding_box_smthsmth_part1.json`` ... ``part4.json``: ``{video id: [frame, ...]}``, one entry per
  frame in order, each ``{"name": "<id>/0001.jpg", "labels": [{"box2d": {"x1", "y1", "x2", "y2"},
  "category": ..., "standard_category": ...}, ...], "gt_placeholders": [...], "nr_instances": n}``;
- ``something-something-v2-labels.json``: ``{class name: "index"}``, the 174 SSv2 classes;
- ``something-something-v2-validation.json`` (``--split test``) and ``-train.json``: ``[{"id",
  "label", "template", "placeholders"}]``; a video's class is its ``template`` without the
  brackets (``"Putting [something] on a surface"`` -> ``"Putting something on a surface"``);
- frames as ``frames/<name>``, the ``name`` of each entry (``frames/<id>/0001.jpg``).

Every box of a frame (the hands and the objects) belongs to the ground truth, which is their union.
``box2d`` corners are read as continuous pixel coordinates (see
[`videoattr.datasets.boxes`][videoattr.datasets.boxes]). The annotation does not give the frame
size, so it is read from the header of each video's first frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from videoattr.core.validation import describe
from videoattr.datasets.annotated import AnnotatedVideo

__all__ = ["LABELS_FILE", "read_json", "something_else_source"]

LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILES = {
    "test": "something-something-v2-validation.json",
    "train": "something-something-v2-train.json",
}
BOXES_GLOB = "bounding_box_smthsmth_*.json"
FRAMES_DIR = "frames"


def read_json(path: Path) -> Any:
    """A JSON file's content, with a one-line error naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _class_name(template: str) -> str:
    return template.replace("[", "").replace("]", "")


def _entry_boxes(entry: Any, video: str, i: int) -> list[tuple[float, float, float, float]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("labels", []), list):
        raise ValueError(f"video {video!r}: frame entry {i} must be a dict with a 'labels' list")
    out = []
    for obj in entry.get("labels", []):
        box = obj.get("box2d") if isinstance(obj, dict) else None
        if not isinstance(box, dict) or not all(k in box for k in ("x1", "y1", "x2", "y2")):
            raise ValueError(
                f"video {video!r}: frame entry {i} has a label without box2d x1/y1/x2/y2"
            )
        out.append((float(box["x1"]), float(box["y1"]), float(box["x2"]), float(box["y2"])))
    return out


def something_else_source(
    root: str | Path, *, split: str = "test", boxes: str | None = None
) -> tuple[list[str], list[AnnotatedVideo], list[tuple[str, str]], str]:
    """The labels, videos and skipped videos of a Something-Else split.

    Args:
        root: the folder with the JSON files and ``frames/``.
        split: ``"test"`` (the SSv2 validation set) or ``"train"``.
        boxes: a glob of the box files inside ``root``. Default ``"bounding_box_smthsmth_*.json"``.

    Returns:
        ``(labels, videos, skipped, labels file)``: the 174 class names by index, the videos of the
        split that have boxes, and ``(video, reason)`` for those left out.

    Raises:
        FileNotFoundError: a JSON file is missing.
        ValueError: a file that is not in the published layout.
    """
    folder = Path(root)
    labels_path = folder / LABELS_FILE
    index = read_json(labels_path)
    if not isinstance(index, dict):
        raise ValueError(f"{labels_path}: expected {{class name: index}}; got {describe(index)}")
    labels = [""] * len(index)
    for name, i in index.items():
        k = int(i)
        if not 0 <= k < len(labels) or labels[k]:
            raise ValueError(
                f"{labels_path}: class indices must be 0..{len(labels) - 1}, once each"
            )
        labels[k] = str(name)
    entries = read_json(folder / SPLIT_FILES[split])
    if not isinstance(entries, list):
        raise ValueError(
            f"{SPLIT_FILES[split]}: expected a list of videos; got {describe(entries)}"
        )
    box_files = sorted(folder.glob(boxes or BOXES_GLOB))
    if not box_files:
        raise FileNotFoundError(f"no box files {boxes or BOXES_GLOB!r} in {str(folder)!r}")
    frames_by_video: dict[str, Any] = {}
    for path in box_files:
        content = read_json(path)
        if not isinstance(content, dict):
            raise ValueError(f"{path}: expected {{video id: [frames]}}; got {describe(content)}")
        frames_by_video.update(content)
    videos: list[AnnotatedVideo] = []
    skipped: list[tuple[str, str]] = []
    for item in entries:
        video = str(item.get("id")) if isinstance(item, dict) else None
        if video is None:
            raise ValueError(
                f"{SPLIT_FILES[split]}: every entry needs an 'id'; got {describe(item)}"
            )
        frames = frames_by_video.get(video)
        if frames is None:
            continue  # Something-Else boxes only a part of SSv2: videos without boxes are not in it
        name = _class_name(str(item.get("template", "")))
        if name not in index:
            skipped.append((video, f"class {name!r} is missing from {LABELS_FILE}"))
            continue
        try:
            per_frame = [_entry_boxes(e, video, i) for i, e in enumerate(frames)]
            names = [str(e["name"]) for e in frames]
        except (ValueError, KeyError) as err:
            skipped.append((video, str(err)))
            continue
        frames_dir = folder / FRAMES_DIR / Path(names[0]).parent if names else folder / FRAMES_DIR
        first = frames_dir / Path(names[0]).name if names else frames_dir
        try:
            with Image.open(first) as im:
                size = (int(im.height), int(im.width))
        except OSError:
            skipped.append((video, f"frame {str(first)!r} is missing or unreadable"))
            continue
        videos.append(
            AnnotatedVideo(
                name=video,
                label=int(index[name]),
                frames_dir=frames_dir,
                frame_names=tuple(Path(n).name for n in names),
                size=size,
                boxes={i: boxes for i, boxes in enumerate(per_frame) if boxes},
            )
        )
    return labels, videos, skipped, str(labels_path)
