"""Run folders as ``videoattr run`` and ``videoattr render`` leave them, built without a model.

Results, failures and the manifest are written with the runner's own writers (``ResultStore``,
``write_manifest``), so the report reads exactly the files a run writes; the pictures are small
real PNG and GIF files with the names ``videoattr render`` gives them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from videoattr.runner.manifest import write_manifest
from videoattr.runner.store import ResultStore, write_json

CLASSES = ("down", "left", "right", "up")


@dataclass(frozen=True)
class Video:
    """One video of a synthetic run: ``status`` ``"done"``, ``"failed"`` or ``"missing"``."""

    id: str
    status: str = "done"
    target: str = "left"
    target_prob: float = 0.5
    prediction: str = "left"
    prediction_prob: float = 0.5
    seconds: float = 1.0
    error: str = "VideoReadError: could not decode video"
    several: tuple[tuple[str, float], ...] = ()  # (class, probability) per target, if several


def _picture(path: Path, colour: tuple[int, int, int], frames: int = 1) -> None:
    images = [
        Image.new("RGB", (32, 24), tuple(min(255, c + 40 * i) for c in colour))
        for i in range(frames)
    ]
    if path.suffix == ".gif":
        images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    else:
        images[0].save(path)


def make_run(
    root: Path,
    videos: list[Video],
    *,
    method: str = "step",
    pictures: bool = True,
    manifest: bool = True,
    timeline: bool = False,
) -> Path:
    """Write the run folder ``root`` holding ``videos``; returns ``root``."""
    config = {
        "method": method,
        "model": "demo",
        "weights": "bundled",
        "version": "0.1.0",
        "areas": [0.05, 0.2],
        "settings": {"method": method, "max_iter": 3},
    }
    write_json(root / "run.json", {"config": config, "rounding": {"device": "cpu", "threads": 2}})
    store = ResultStore(root)
    sources = []
    for i, v in enumerate(videos):
        source = root.parent / "videos" / f"{v.id}.mp4"
        sources.append(str(source))
        if v.status == "done":
            meta: dict[str, object] = {
                "method": method,
                "prediction": {
                    "index": CLASSES.index(v.prediction) if v.prediction in CLASSES else 0,
                    "name": v.prediction,
                    "prob": v.prediction_prob,
                },
                "target": {"index": 0, "name": v.target, "prob": v.target_prob},
                "preserved_prob": [v.target_prob / 2, v.target_prob / 3],
                "seconds": v.seconds,
                "id": v.id,
                "index": i,
                "source": str(source),
                "label": v.target,
            }
            maps = np.zeros((2, 2, 4, 4), np.float32)
            if v.several:
                meta["targets"] = [
                    {
                        "target": {"index": k, "name": name, "prob": prob},
                        "preserved_prob": [prob / 2],
                        "seconds": v.seconds / len(v.several),
                    }
                    for k, (name, prob) in enumerate(v.several)
                ]
                maps = np.zeros((len(v.several), 1, 2, 4, 4), np.float32)
            store.write_result(v.id, maps, meta)
            if pictures:
                folder = root / "pictures"
                folder.mkdir(parents=True, exist_ok=True)
                stems = [f"{v.id}.{name}" for name, _ in v.several] if v.several else [v.id]
                for stem in stems:
                    _picture(folder / f"{stem}.png", (200, 30, 30))
                    _picture(folder / f"{stem}.gif", (30, 30, 200), frames=3)
                    if timeline:
                        _picture(folder / f"{stem}.timeline.png", (30, 200, 30))
        elif v.status == "failed":
            store.write_failure(
                v.id,
                {
                    "id": v.id,
                    "index": i,
                    "source": str(source),
                    "error": v.error,
                    "traceback": "Traceback ...",
                    "rank": 0,
                },
            )
    if manifest:
        write_manifest(store, [v.id for v in videos], sources, config)
    return root


def sample_videos() -> list[Video]:
    """Six videos: four done (one wrong), one failed with markup in its error, one missing."""
    return [
        Video(
            "left-0",
            target="left",
            target_prob=0.80,
            prediction="left",
            prediction_prob=0.80,
            seconds=6.5,
        ),
        Video(
            "up-1",
            target="up",
            target_prob=0.30,
            prediction="down",
            prediction_prob=0.60,
            seconds=2.0,
        ),
        Video(
            "left-2",
            target="left",
            target_prob=0.95,
            prediction="left",
            prediction_prob=0.95,
            seconds=9.0,
        ),
        Video("broken 3", status="failed", error='ValueError: <b>bad</b> & "odd" file'),
        Video(
            "down-4",
            target="down",
            target_prob=0.55,
            prediction="down",
            prediction_prob=0.55,
            seconds=0.5,
        ),
        Video("later-5", status="missing"),
    ]


def read_json(path: Path) -> object:
    return json.loads(path.read_text())
