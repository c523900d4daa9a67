"""The timeline picture: points where the probabilities say, marks, ticks, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from videoattr.viz import Timeline, render_timeline, save_timeline
from videoattr.viz.timeline import _TARGET, nice_ticks

STARTS = [0, 8, 16, 24]
ENDS = [15, 23, 31, 39]
PROBS = [0.1, 0.9, 0.5, 0.0]


def test_points_sit_at_window_centres_and_probabilities() -> None:
    tl = render_timeline(STARTS, ENDS, PROBS, num_frames=40, fps=8.0, target_name="abseiling")
    assert isinstance(tl, Timeline) and tl.title == "p(abseiling | window)"
    top, left, height, width = tl.plot
    assert len(tl.points) == 4
    for (x, y), s, e, p in zip(tl.points, STARTS, ENDS, PROBS, strict=True):
        centre = (s + e + 1) / 2
        assert x == left + round(centre / 40 * (width - 1)) == tl.x_of(centre)
        assert y == top + round((1 - p) * (height - 1)) == tl.y_of(p)
        pixel = tl.image[y, x].tolist()
        assert pixel == list(_TARGET), (x, y, pixel)  # the curve's colour at each point
    higher = tl.points[1][1] < tl.points[2][1] < tl.points[0][1] < tl.points[3][1]
    assert higher  # 0.9 above 0.5 above 0.1 above 0
    assert tl.image.dtype == torch.uint8 and tl.image.shape[1] == 720


def test_marks_top_class_strip_and_sizes(tmp_path: Path) -> None:
    tl = render_timeline(
        STARTS,
        ENDS,
        PROBS,
        num_frames=40,
        top_probability=[0.5, 0.9, 0.6, 0.7],
        top_names=["a", "b", "b", "c"],
        marks=[0, 20, 39],
        width=400,
        plot_height=60,
    )
    assert tl.image.shape[1] == 400 and tl.plot[2] == 60
    assert tl.marks == (tl.x_of(0.5), tl.x_of(20.5), tl.x_of(39.5))
    plain = render_timeline(STARTS, ENDS, PROBS, num_frames=40, width=400, plot_height=60)
    assert plain.image.shape[0] < tl.image.shape[0]  # the top-class strip takes room
    path = save_timeline(tmp_path / "t.png", STARTS, ENDS, PROBS, num_frames=40)
    assert path.image.shape == render_timeline(STARTS, ENDS, PROBS, num_frames=40).image.shape
    assert (tmp_path / "t.png").stat().st_size > 0
    assert "windows=4" in repr(tl) and tl.png()[:4] == b"\x89PNG"


def test_one_window() -> None:
    tl = render_timeline([0], [7], [0.3], num_frames=5)
    assert len(tl.points) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"window_starts": []}, ValueError, "at least one window"),
        ({"window_ends": [1, 2]}, ValueError, r"window_ends must have one entry per window \(4\)"),
        ({"target_probability": [0.1, 1.5, 0.2, 0.3]}, ValueError, r"must lie in \[0, 1\]"),
        ({"num_frames": 0}, ValueError, "num_frames must be an int >= 1"),
        ({"width": 100}, ValueError, "width must be an int >= 240"),
        ({"fps": -1.0}, ValueError, "fps must be positive"),
        ({"top_names": ["a"]}, ValueError, "top_names must have one entry per window"),
        ({"target_probability": "high"}, TypeError, "target_probability must be a sequence"),
    ],
)
def test_bad_input(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    args: dict[str, object] = {
        "window_starts": STARTS,
        "window_ends": ENDS,
        "target_probability": PROBS,
        "num_frames": 40,
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        render_timeline(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("stop", [0.4, 1.0, 7.0, 37.0, 120.0, 3000.0, 12345.0])
@pytest.mark.parametrize("most", [2, 5, 8])
def test_nice_ticks_are_round_and_few(stop: float, most: int) -> None:
    ticks = nice_ticks(stop, most)
    assert ticks[0] == 0 and ticks[-1] <= stop + 1e-9 and len(ticks) <= most
    if len(ticks) > 1:
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6
        assert stop - ticks[-1] < step  # no room for one more tick


def test_strip_under_a_video_and_its_cursor() -> None:
    from videoattr.viz.timeline import _MARK, timeline_strip, with_cursor

    strip = timeline_strip(STARTS, ENDS, PROBS, num_frames=40, width=80, height=24)
    assert strip.shape == (24, 80, 3) and strip.dtype == torch.uint8
    # column x stands for frame (x + 0.5) * 40 / 80; window 1's centre (frame 16) is column 31.5
    blue = [
        (strip[:, x] == torch.tensor([31, 119, 180], dtype=torch.uint8)).all(1) for x in (7, 39)
    ]
    top_of = [int(b.nonzero()[0]) for b in blue]
    assert top_of[0] > top_of[1]  # p = 0.1 near frame 4 is drawn lower than p = 0.9 near frame 20
    cursor = with_cursor(strip, 20, 40)
    x = int(20.5 * 80 / 40)  # the middle of frame 20's two columns
    assert (cursor[:, x] == torch.tensor(_MARK, dtype=torch.uint8)).all()
    others = [c for c in range(80) if c != x]
    assert torch.equal(cursor[:, others], strip[:, others])
    assert not (strip[:, x] == torch.tensor(_MARK, dtype=torch.uint8)).all(1).any()
