"""Small annotated datasets written in each published format, objects drawn where the boxes say.

Frames show a dark background and, inside every box, a bright red object, so a test can check that
a box still frames its object after the model's preprocessing. Each writer returns what it wrote.
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

BACKGROUND = (30, 40, 50)
OBJECT = (230, 20, 20)


@dataclass
class Video:
    """One generated video: its name, class, frame count, size and inclusive boxes by 1-based frame."""

    name: str
    label: int
    nframes: int
    size: tuple[int, int]  # (H, W)
    boxes: dict[int, tuple[int, int, int, int]] = field(
        default_factory=dict
    )  # inclusive x1,y1,x2,y2


def draw_frame(
    size: tuple[int, int], boxes: Sequence[tuple[float, float, float, float]]
) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 frame with the object filling each continuous box ``(x0, y0, x1, y1)``."""
    h, w = size
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = BACKGROUND
    for x0, y0, x1, y1 in boxes:
        frame[int(y0) : int(y1), int(x0) : int(x1)] = OBJECT
    return frame


def inner_and_outer(mask: Any) -> tuple[Any, Any]:
    """``(H, W)`` bool mask eroded and dilated by one pixel (outside the frame counts as outside).

    Pixels of the eroded mask lie wholly inside the box, pixels outside the dilated one wholly
    outside it: the resize blends only the pixels in between.
    """
    import torch.nn.functional as F

    m = F.pad(mask.float()[None, None], (1, 1, 1, 1))
    inner = -F.max_pool2d(-m, 3, 1)[0, 0] > 0.5
    outer = F.max_pool2d(m, 3, 1)[0, 0] > 0.5
    return inner, outer


def write_frames(folder: Path, video: Video, name: str = "{:05d}.jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(1, video.nframes + 1):
        b = video.boxes.get(f)
        boxes = [] if b is None else [(b[0], b[1], b[2] + 1, b[3] + 1)]
        Image.fromarray(draw_frame(video.size, boxes)).save(folder / name.format(f), quality=95)


class _Python2Pickler(pickle._Pickler):  # type: ignore[misc, name-defined]
    """Writes text and bytes as Python 2 ``str`` (``BINSTRING``), as the published pickles hold them."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def python2_pickle(obj: Any) -> bytes:
    """``obj`` pickled with protocol 2 as Python 2 wrote it (latin-1 strings, ``numpy.core``)."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def write_act(
    root: Path,
    videos: Sequence[Video],
    labels: Sequence[str],
    *,
    file: str = "UCF101v2-GT.pkl",
    test: Sequence[str] | None = None,
    frames: bool = True,
    nframes_override: dict[str, int] | None = None,
) -> Path:
    """An ACT-detector dataset: the pickle and ``rgb-images/<video>/%05d.jpg``."""
    root.mkdir(parents=True, exist_ok=True)
    gttubes: dict[str, dict[int, list[np.ndarray]]] = {}
    for v in videos:
        rows = [[f, *v.boxes[f]] for f in sorted(v.boxes)]
        gttubes[v.name] = {v.label: [np.array(rows, dtype=np.float32)]} if rows else {}
    names = [v.name for v in videos]
    data = {
        "labels": list(labels),
        "gttubes": gttubes,
        "nframes": {v.name: (nframes_override or {}).get(v.name, v.nframes) for v in videos},
        "resolution": {v.name: v.size for v in videos},
        "train_videos": [[]],
        "test_videos": [list(test if test is not None else names)],
    }
    path = root / file
    path.write_bytes(python2_pickle(data))
    if frames:
        for v in videos:
            write_frames(root / "rgb-images" / v.name, v)
    return path


def write_something_else(
    root: Path, videos: Sequence[Video], labels: Sequence[str], *, split: str = "validation"
) -> None:
    """Something-Else boxes, the Something-Something v2 labels and split, frames ``frames/<id>/0001.jpg``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "something-something-v2-labels.json").write_text(
        json.dumps({name: str(i) for i, name in enumerate(labels)})
    )
    (root / f"something-something-v2-{split}.json").write_text(
        json.dumps(
            [
                {
                    "id": v.name,
                    "label": labels[v.label].replace("something", "a pen"),
                    "template": labels[v.label].replace("something", "[something]"),
                    "placeholders": ["a pen"],
                }
                for v in videos
            ]
        )
    )
    boxes: dict[str, list[dict[str, Any]]] = {}
    for v in videos:
        entries = []
        for f in range(1, v.nframes + 1):
            labels_f = []
            if f in v.boxes:
                x1, y1, x2, y2 = v.boxes[f]
                labels_f.append(
                    {
                        "box2d": {"x1": x1, "y1": y1, "x2": x2 + 1, "y2": y2 + 1},
                        "category": "a pen",
                        "standard_category": "0000",
                    }
                )
            entries.append(
                {
                    "name": f"{v.name}/{f:04d}.jpg",
                    "labels": labels_f,
                    "gt_placeholders": ["a pen"],
                    "nr_instances": len(labels_f),
                }
            )
        boxes[v.name] = entries
        write_frames(root / "frames" / v.name, v, name="{:04d}.jpg")
    (root / "bounding_box_smthsmth_part1.json").write_text(json.dumps(boxes))


def write_epic(
    root: Path, videos: Sequence[Video], nouns: Sequence[str], *, every: int = 4
) -> None:
    """EPIC-Kitchens CSVs and frames: one action segment per :class:`Video` (frames 3 .. nframes).

    Frames are drawn with the object wherever ``video.boxes`` says; the object CSV boxes only every
    ``every``-th frame (sparse, as published) as ``(top, left, height, width)`` at 1920 x 1080 while
    the frames are 20 times smaller (``video.size`` must be ``(54, 96)``).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "EPIC_noun_classes.csv").write_text(
        "noun_id,class_key,nouns\n" + "".join(f"{i},{n},\"['{n}']\"\n" for i, n in enumerate(nouns))
    )
    actions = ["uid,participant_id,video_id,narration,start_timestamp,stop_timestamp,start_frame,"
               "stop_frame,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes"]  # fmt: skip
    objects = ["noun_class,noun,participant_id,video_id,frame,bounding_boxes"]
    for uid, v in enumerate(videos):
        assert v.size == (54, 96)
        participant = v.name.split("_")[0]
        write_frames(
            root / "frames_rgb_flow" / "rgb" / "train" / participant / v.name,
            v,
            "frame_{:010d}.jpg",
        )
        noun = nouns[v.label]
        actions.append(
            f"{uid},{participant},{v.name},take {noun},00:00:01.00,00:00:02.00,3,{v.nframes},"
            f"take,0,{noun},{v.label},['{noun}'],[{v.label}]"
        )
        for f in range(1, v.nframes + 1, every):
            if f in v.boxes:
                x1, y1, x2, y2 = v.boxes[f]
                box = f"[({20 * y1}, {20 * x1}, {20 * (y2 - y1 + 1)}, {20 * (x2 - x1 + 1)})]"
            else:
                box = "[]"
            objects.append(f'{v.label},{noun},{participant},{v.name},{f},"{box}"')
    (root / "EPIC_train_action_labels.csv").write_text("\n".join(actions) + "\n")
    (root / "EPIC_train_object_labels.csv").write_text("\n".join(objects) + "\n")
