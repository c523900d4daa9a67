"""Something-Else and EPIC-Kitchens: the published layouts read, boxes framing the drawn object, loud data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.datasets.formats import Video, inner_and_outer, write_epic, write_something_else
from videoattr import zoo
from videoattr.datasets.annotated import AnnotatedClips
from videoattr.datasets.epic import epic_source, parse_boxes
from videoattr.datasets.something_else import something_else_source
from videoattr.io import denormalize

SSV2 = [
    "Putting something on a surface",
    "Pushing something from left to right",
    "Holding something",
]


def _frames_the_object(data: AnnotatedClips, adapter: zoo.VideoAdapter, i: int) -> int:
    """Check every sampled frame with a box; returns how many frames had one."""
    clip, _, _ = data[i]
    frames = denormalize(clip, adapter.mean, adapter.std).int()
    red = (frames[..., 0] > 130) & (frames[..., 1] < 90)
    gt = data.ground_truth(i)[0]
    seen = 0
    for t in range(gt.shape[0]):
        if not bool(gt[t].any()):
            continue
        seen += 1
        inner, outer = inner_and_outer(gt[t])
        assert bool(red[t][inner].all()) and not bool(red[t][~outer].any()), (i, t)
    return seen


def test_something_else_boxes_and_labels(tmp_path: Path) -> None:
    videos = [
        Video("74225", 1, 18, (60, 90), {f: (5 + 2 * f, 10, 35 + 2 * f, 40) for f in range(1, 19)}),
        Video("116154", 2, 20, (60, 90), {f: (50, 5, 80, 30) for f in range(4, 12)}),
    ]
    write_something_else(tmp_path, videos, SSV2)
    labels, found, skipped, _ = something_else_source(tmp_path)
    assert labels == SSV2 and skipped == []
    assert [v.name for v in found] == ["74225", "116154"] and [v.label for v in found] == [1, 2]
    assert found[0].size == (60, 90) and found[0].frame_names[0] == "0001.jpg"
    assert found[1].boxes[3] == [(50.0, 5.0, 81.0, 31.0)]  # frame 4 (index 3): x2, y2 exclusive
    adapter = zoo.load("demo")
    data = AnnotatedClips.for_model(found, labels, adapter)
    assert _frames_the_object(data, adapter, 0) == 16
    assert 0 < _frames_the_object(data, adapter, 1) < 16


def test_something_else_unknown_class_is_listed(tmp_path: Path) -> None:
    write_something_else(tmp_path, [Video("7", 0, 18, (60, 90), {1: (1, 1, 9, 9)})], SSV2)
    split = tmp_path / "something-something-v2-validation.json"
    entries = json.loads(split.read_text())
    entries[0]["template"] = "Juggling [something]"
    split.write_text(json.dumps(entries))
    _, found, skipped, _ = something_else_source(tmp_path)
    assert found == [] and skipped == [
        ("7", "class 'Juggling something' is missing from something-something-v2-labels.json")
    ]


def test_epic_boxes_top_left_height_width_scaled_and_spread(tmp_path: Path) -> None:
    nouns = ["pan", "knife", "cup"]
    videos = [
        Video("P01_01", 2, 30, (54, 96), {f: (30, 10, 59, 39) for f in range(1, 31)}),
        Video("P02_07", 0, 28, (54, 96), {f: (40, 20, 61, 49) for f in range(1, 29)}),
    ]
    write_epic(tmp_path, videos, nouns)
    labels, segments, skipped, _ = epic_source(tmp_path)
    assert labels == nouns and skipped == []
    seg = segments[0]
    assert seg.name == "P01_01_0" and seg.label == 2 and seg.nframes == 28  # frames 3..30
    assert seg.size == (54, 96) and seg.frame_names[0] == "frame_0000000003.jpg"
    # annotated frames 5, 9, ... (every 4th from 1, within 3..30); each reaches 3 frames either side
    assert sorted(seg.boxes) == list(range(0, 28))
    assert seg.boxes[2] == [(30.0, 10.0, 60.0, 40.0)]  # frame 5: (top 200, left 600, 600, 600) / 20
    adapter = zoo.load("demo")
    data = AnnotatedClips.for_model(segments, labels, adapter)
    assert data.skipped == [] and _frames_the_object(data, adapter, 1) == 16


def test_epic_loud_data(tmp_path: Path) -> None:
    assert parse_boxes("[(1, 2, 3, 4)]") == [(1.0, 2.0, 3.0, 4.0)]
    with pytest.raises(ValueError, match="not a list of"):
        parse_boxes("[(1, 2, 3)]")
    write_epic(tmp_path, [Video("P01_01", 0, 20, (54, 96), {5: (80, 10, 99, 20)})], ["pan"])
    labels, segments, _, _ = epic_source(tmp_path)
    data = AnnotatedClips.for_model(segments, labels, zoo.load("demo"))
    assert len(data) == 0 and "outside its 96 x 54 frame" in data.skipped[0][1]


def test_sources_by_name_give_the_clips_the_command_evaluates(tmp_path: Path) -> None:
    from videoattr.evaluation import load_model_for, open_source

    nouns = ["right", "down", "left", "up"]  # the demo model's classes
    write_epic(
        tmp_path / "epic",
        [Video("P01_01", 1, 24, (54, 96), {f: (30, 10, 59, 39) for f in range(1, 25)})],
        nouns,
    )
    source = open_source("epic-kitchens", tmp_path / "epic")
    model, line = load_model_for(
        "demo", None, source.labels, dataset="epic-kitchens", annotation=source.annotation
    )
    assert "4 classes of epic-kitchens (from EPIC_noun_classes.csv)" in line
    data = source.clips(model)
    assert len(data) == 1 and data.labels == [1] and data.class_names == nouns
    write_something_else(tmp_path / "sth", [Video("5", 2, 18, (60, 90), {1: (1, 1, 9, 9)})], SSV2)
    sth = open_source("something-else", tmp_path / "sth")
    assert sth.labels == SSV2 and [v.name for v in sth.videos] == ["5"]
    with pytest.raises(ValueError, match="--dataset must be one of"):
        open_source("kinetics", tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        open_source("ucf101-24", tmp_path / "missing")
