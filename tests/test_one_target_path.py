"""One target path: every target form gives the same classes through the attributor, the pipeline,
a dataset run, whole videos and the command line.

The classes expected for each form are computed here independently (fixed classes as written, a
top-k request from the demo model's own logits on the clip), and each path's result is checked
against them: the attributor by its maps (each class's map equals a call for that class alone),
the others by the classes their records name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from videoattr import demo_model, io, zoo
from videoattr.cli import main
from videoattr.core.targets import parse_target
from videoattr.datasets import SyntheticMotion
from videoattr.datasets.folders import adapter_reading, load_clip
from videoattr.methods import Saliency
from videoattr.pipeline import VideoFrames, as_method, explain_video_classes
from videoattr.pipeline.explain import explain_targets
from videoattr.runner import ResultStore, run

NAMES = demo_model.CLASS_NAMES
COMMON = ["--model", "demo", "--no-gpu", "--no-progress", "--method", "saliency"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("one_video")
    batch = SyntheticMotion(seed=11, **demo_model.DATASET_KWARGS).sample(1)
    video = folder / "clip-0.gif"  # "clip" is no class: the label never chooses the target
    io.write_video(video, batch.frames[0], fps=8)
    model = zoo.load("demo").eval()
    clip_len, sampling, preprocess = adapter_reading(model)
    x = load_clip(video, clip_len=clip_len, sampling=sampling, preprocess=preprocess)
    with torch.no_grad():
        ranking = model(x)[0].argsort(descending=True).tolist()
    return {"video": video, "model": model, "x": x, "ranking": ranking}


def forms(ranking: list[int]) -> list[tuple[object, object, list[int]]]:
    """``(what a run and the command line are given, what the attributor is given, classes)``."""
    top2 = ranking[:2]
    return [
        (2, 2, [2]),
        (NAMES[3], 3, [3]),
        ([1, NAMES[2]], torch.tensor([[1, 2]]), [1, 2]),
        (f"{NAMES[0]},{NAMES[3]}", torch.tensor([[0, 3]]), [0, 3]),
        ("top2", "top2", top2),
        ("topk:2", "topk:2", top2),
        (None, None, ranking[:1]),
    ]


def test_every_form_gives_the_same_classes_everywhere(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    model, x = setup["model"], setup["x"]
    att = Saliency(model)
    method = as_method(att, model)
    frames = VideoFrames.from_clip(x, mean=model.mean, std=model.std)  # one window: the clip
    for n, (given, api, expected) in enumerate(forms(setup["ranking"])):
        # the attributor: each class's map is the map of that class alone
        maps = att.attribute(x, api)
        maps = maps if maps.dim() == 6 else maps[:, None]
        assert maps.shape[1] == len(expected), given
        for k, c in enumerate(expected):
            torch.testing.assert_close(maps[:, k], att.attribute(x, c))
        # the pipeline
        target = parse_target(given, NAMES).for_clips([None])
        found = explain_targets(model, method, x, target)[0]
        assert [r.target for r in found] == expected, given
        # whole videos
        request = parse_target(given, NAMES)
        classes = explain_video_classes(
            model, method, frames, [None] if request.uses_labels else request
        )
        assert [r.target for r in classes] == expected, given
        # a dataset run, of clips and of whole videos
        for whole in (False, True):
            out = tmp_path / f"run{n}{whole}"
            data = [(frames if whole else x[0], None)]
            run(data, model, att, out, target=given, progress=False, num_workers=0,
                whole_videos=whole)  # fmt: skip
            meta = ResultStore(out).read_meta("000000")
            records = meta.get("targets", [meta["target"]])
            got = [r["target"]["index"] if "target" in r else r["index"] for r in records]
            assert got == expected, (given, whole)


@pytest.mark.parametrize("given", [NAMES[3], f"1,{NAMES[2]}", "topk:2"])
def test_the_command_line_gives_the_same_classes(
    setup: dict[str, Any], tmp_path: Path, given: str
) -> None:
    expected = {NAMES[3]: [3], f"1,{NAMES[2]}": [1, 2], "topk:2": setup["ranking"][:2]}[given]
    flag = ["--target", given]
    for whole in (False, True):
        out = tmp_path / f"explain{whole}"
        extra = ["--whole-video"] if whole else []
        args = ["explain", "--video", str(setup["video"]), *COMMON, *flag, *extra]
        assert main([*args, "--out", str(out)]) == 0
        records = [json.loads(p.read_text()) for p in out.rglob("*.json")]
        assert sorted(r["target"]["index"] for r in records) == sorted(expected), (given, whole)
