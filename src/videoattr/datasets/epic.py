"""EPIC-Kitchens action segments with the object boxes of their noun.

The evaluation of Li et al. (WACV 2021) on EPIC-Kitchens classifies an action segment by its noun
and asks where the map points on the frames where that object is boxed. Files, as EPIC-Kitchens
(2018) publishes them:

- ``EPIC_train_action_labels.csv``: one segment per line, with ``uid``, ``participant_id``,
  ``video_id``, ``start_frame``, ``stop_frame``, ``noun`` and ``noun_class`` (among others);
- ``EPIC_train_object_labels.csv``: ``noun_class, noun, participant_id, video_id, frame,
  bounding_boxes``, the boxes of one object on one frame as ``"[(top, left, height, width), ...]"``
  in the pixels of the original 1920 x 1080 video (``[]`` where the object was looked for and not
  seen); objects are annotated on sparse frames (every 30th frame);
- ``EPIC_noun_classes.csv``: ``noun_id, class_key, nouns``, the class names by index;
- frames as ``frames_rgb_flow/rgb/train/<participant>/<video>/frame_0000000001.jpg`` (1-based frame
  numbers of the whole video, usually resized to 456 x 256).

A box ``(top, left, height, width)`` is ``(x0, y0, x1, y1) = (left, top, left + width, top + height)``
in continuous pixel coordinates, scaled from ``box_size`` (default 1080 x 1920) to the frames' size.
As in the reference implementation, a box annotated on frame ``f`` also stands for the frames
within ``reach`` (default 3) frames of ``f``, since the boxes are sparse and a clip samples only a
few frames of a segment. A segment without any box of its noun is not kept.
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

from PIL import Image

from videoattr.datasets.annotated import AnnotatedVideo

__all__ = ["ACTIONS_FILE", "NOUNS_FILE", "OBJECTS_FILE", "epic_source", "parse_boxes"]

ACTIONS_FILE = "EPIC_train_action_labels.csv"
OBJECTS_FILE = "EPIC_train_object_labels.csv"
NOUNS_FILE = "EPIC_noun_classes.csv"
FRAMES_DIR = Path("frames_rgb_flow") / "rgb" / "train"
FRAME_NAME = "frame_{:010d}.jpg"
Box = tuple[float, float, float, float]


def parse_boxes(text: str) -> list[tuple[float, float, float, float]]:
    """``"[(top, left, height, width), ...]"`` as a list of ``(top, left, height, width)``.

    Raises:
        ValueError: text that is not a list of 4-tuples of numbers.
    """
    try:
        value = ast.literal_eval(text.strip() or "[]")
    except (ValueError, SyntaxError):
        raise ValueError(
            f"bounding_boxes {text!r} is not a list of (top, left, height, width)"
        ) from None
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)
        for b in value
    ):
        raise ValueError(f"bounding_boxes {text!r} is not a list of (top, left, height, width)")
    return [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in value]


def _rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {str(path)!r} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing the columns {missing} (has {reader.fieldnames})")
        return list(reader)


def epic_source(
    root: str | Path,
    *,
    annotation: str | None = None,
    box_size: tuple[int, int] = (1080, 1920),
    reach: int = 3,
) -> tuple[list[str], list[AnnotatedVideo], list[tuple[str, str]], str]:
    """The noun classes, the segments with boxes, and the skipped segments of EPIC-Kitchens.

    Args:
        root: the folder with the three CSV files and ``frames_rgb_flow/``.
        annotation: the action segments' CSV inside ``root``. Default ``EPIC_train_action_labels.csv``.
        box_size: ``(H, W)`` of the videos the boxes were drawn on. Default ``(1080, 1920)``.
        reach: frames on each side of an annotated frame that its box stands for. Default 3.

    Returns:
        ``(labels, segments, skipped, nouns file)``.

    Raises:
        FileNotFoundError: a CSV file is missing.
        ValueError: a CSV without the published columns, or a malformed box list.
    """
    folder = Path(root)
    nouns_path = folder / NOUNS_FILE
    nouns = _rows(nouns_path, ("noun_id", "class_key"))
    labels = [""] * len(nouns)
    for row in nouns:
        k = int(row["noun_id"])
        if not 0 <= k < len(labels):
            raise ValueError(f"{nouns_path}: noun_id must be 0..{len(labels) - 1}; got {k}")
        labels[k] = row["class_key"]
    objects: dict[tuple[str, int], dict[int, list[Box]]] = {}
    for row in _rows(folder / OBJECTS_FILE, ("noun_class", "video_id", "frame", "bounding_boxes")):
        for top, left, height, width in parse_boxes(row["bounding_boxes"]):
            key = (row["video_id"], int(row["noun_class"]))
            box = (left, top, left + width, top + height)
            objects.setdefault(key, {}).setdefault(int(row["frame"]), []).append(box)
    actions = _rows(
        folder / (annotation or ACTIONS_FILE),
        ("uid", "participant_id", "video_id", "start_frame", "stop_frame", "noun_class"),
    )
    segments: list[AnnotatedVideo] = []
    skipped: list[tuple[str, str]] = []
    sizes: dict[str, tuple[int, int] | None] = {}
    for row in actions:
        video, noun = row["video_id"], int(row["noun_class"])
        name = f"{video}_{row['uid']}"
        start, stop = int(row["start_frame"]), int(row["stop_frame"])
        annotated = {f: b for f, b in objects.get((video, noun), {}).items() if start <= f <= stop}
        if not annotated:
            continue
        frames_dir = folder / FRAMES_DIR / row["participant_id"] / video
        if video not in sizes:
            sizes[video] = _frame_size(frames_dir / FRAME_NAME.format(start))
        size = sizes[video]
        if size is None:
            skipped.append((name, f"frame folder {str(frames_dir)!r} is missing or unreadable"))
            continue
        sy, sx = size[0] / box_size[0], size[1] / box_size[1]
        boxes: dict[int, list[Box]] = {}
        for f, found in sorted(annotated.items()):
            scaled = [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in found]
            for g in range(max(start, f - reach), min(stop, f + reach) + 1):
                boxes.setdefault(g - start, []).extend(scaled)
        segments.append(
            AnnotatedVideo(
                name=name,
                label=noun,
                frames_dir=frames_dir,
                frame_names=tuple(FRAME_NAME.format(f) for f in range(start, stop + 1)),
                size=size,
                boxes=boxes,
                whole_folder=False,
            )
        )
    return labels, segments, skipped, str(nouns_path)


def _frame_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as im:
            return int(im.height), int(im.width)
    except OSError:
        return None
