"""The ACT-detector format (UCF101-24, J-HMDB-21): restricted unpickling, boxes in clip pixels, loud data."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.datasets.formats import Video, inner_and_outer, python2_pickle, write_act
from videoattr import zoo
from videoattr.datasets.act import act_dataset, load_act_annotation
from videoattr.datasets.safe_pickle import load_annotation_pickle, read_annotation_pickle
from videoattr.io import denormalize

LABELS = ["Basketball", "Biking", "Diving"]


def _videos() -> list[Video]:
    """Three videos of 60 x 80 frames (not square), one box per frame in some frames."""
    return [
        Video("Basketball/v_Basketball_g01_c01", 0, 20, (60, 80), _moving(20)),
        Video(
            "Biking/v_Biking_g02_c03", 1, 18, (60, 80), {f: (40, 20, 70, 50) for f in range(3, 15)}
        ),
        Video(
            "Diving/v_Diving_g03_c01", 2, 24, (60, 80), {f: (5, 5, 25, 55) for f in range(1, 25)}
        ),
    ]


def _moving(n: int) -> dict[int, tuple[int, int, int, int]]:
    return {f: (10 + f, 8, 30 + f, 40) for f in range(1, n + 1)}


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo owned > owned.txt",))


def test_restricted_unpickler_refuses_code_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "UCF101v2-GT.pkl"
    path.write_bytes(pickle.dumps({"labels": ["a"], "x": _Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os|nt)\.system"):
        load_annotation_pickle(path)
    assert not (tmp_path / "owned.txt").exists()
    for module, name in [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load")]:
        evil = f"\x80\x02c{module}\n{name}\nU\x011\x85R.".encode("latin1")
        with pytest.raises(pickle.UnpicklingError, match=f"{module}.{name}"):
            read_annotation_pickle(io.BytesIO(evil))
    with pytest.raises(pickle.UnpicklingError, match="not a readable annotation pickle"):
        read_annotation_pickle(io.BytesIO(b"\x80\x02garbage"))


def test_python2_pickle_with_latin1_strings_and_arrays_is_read() -> None:
    data = {"labels": ["Fencing", "Caf\xe9"], "tube": np.arange(10, dtype=np.float32).reshape(2, 5)}
    blob = python2_pickle(data)
    assert b"numpy.core.multiarray" in blob and blob[:2] == b"\x80\x02"
    with pytest.raises(UnicodeDecodeError):  # what a plain Python 3 load does with it
        pickle.loads(blob)
    out = read_annotation_pickle(io.BytesIO(blob))
    assert out["labels"] == ["Fencing", "Caf\xe9"]
    np.testing.assert_array_equal(out["tube"], data["tube"])
    for protocol in (2, 4):  # the same file saved again by Python 3
        again = read_annotation_pickle(io.BytesIO(pickle.dumps(data, protocol=protocol)))
        np.testing.assert_array_equal(again["tube"], data["tube"])
    evil = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(pickle.UnpicklingError, match="encoding 'zlib'"):
        read_annotation_pickle(io.BytesIO(evil))


class _Reduce:
    """Pickles as ``func(*args)`` with ``state`` given to BUILD, as a crafted file would."""

    def __init__(self, func: object, args: tuple[object, ...], state: object = None) -> None:
        self.reduced = (func, args) if state is None else (func, args, state)

    def __reduce__(self) -> tuple[object, ...]:
        return self.reduced  # type: ignore[return-value]


def test_restricted_unpickler_refuses_arrays_that_read_bytes_as_object_pointers() -> None:
    from numpy._core.multiarray import _reconstruct, scalar

    pointer = b"\x41" * 8  # loaded as a PyObject*, reading it would crash (or worse)
    object_field = _Reduce(  # a void dtype given an object field by its pickled state
        np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 8, 0)
    )
    crafted = [
        _Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), object_field, False, pointer)),
        _Reduce(np.ndarray, ((1,), "O", pointer)),  # numpy.ndarray called with a buffer
        _Reduce(scalar, (object_field, pointer)),
        np.array([1, "a"], dtype=object),
    ]
    for obj in crafted:
        blob = pickle.dumps({"labels": ["a"], "x": obj}, protocol=2)
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            read_annotation_pickle(io.BytesIO(blob))
    nested = 100_000  # lists in lists: one clear error, not a RecursionError
    blob = b"\x80\x02" + b"]" * nested + b"a" * (nested - 1) + b"."
    with pytest.raises(pickle.UnpicklingError, match="not a readable annotation pickle"):
        read_annotation_pickle(io.BytesIO(blob))


def test_restricted_unpickler_keeps_plain_arrays_and_scalars() -> None:
    data = {
        "f": np.arange(6, dtype=">f8").reshape(2, 3),
        "u": np.array(["ab", "c"]),
        "b": np.array([True, False]),
        "n": np.int64(7),
        "s": np.float32(0.5),
    }
    for blob in (python2_pickle(data), pickle.dumps(data, protocol=2), pickle.dumps(data)):
        out = read_annotation_pickle(io.BytesIO(blob))
        for key, value in data.items():
            assert type(out[key]) is type(value)
            assert out[key].dtype == value.dtype.newbyteorder("=")  # numpy loads native order
            np.testing.assert_array_equal(out[key], value)


def test_annotation_is_read_and_checked(tmp_path: Path) -> None:
    path = write_act(tmp_path, _videos(), LABELS, frames=False)
    ann = load_act_annotation(path)
    assert ann.labels == LABELS
    assert ann.nframes["Biking/v_Biking_g02_c03"] == 18
    assert ann.resolution["Diving/v_Diving_g03_c01"] == (60, 80)
    assert ann.split("test") == [v.name for v in _videos()]
    with pytest.raises(ValueError, match="split_index must lie in"):
        ann.split("test", 1)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(python2_pickle({"labels": LABELS}))
    with pytest.raises(ValueError, match="lacks the keys"):
        load_act_annotation(bad)


def test_clips_boxes_and_ground_truth_frame_the_drawn_object(tmp_path: Path) -> None:
    write_act(tmp_path, _videos(), LABELS)
    adapter = zoo.load("demo")
    data = act_dataset(tmp_path, adapter)
    assert data.skipped == [] and len(data) == 3
    assert data.class_names == LABELS
    assert data.ids[0] == "Basketball__v_Basketball_g01_c01"
    for i in range(3):
        clip, label, _ = data[i]
        assert clip.shape == (3, 16, 56, 56) and label == data.videos[i].label
        gt = data.ground_truth(i)[0]
        frames = denormalize(clip, adapter.mean, adapter.std).int()  # (T, H, W, 3)
        red = (frames[..., 0] > 130) & (frames[..., 1] < 90)
        for t in range(16):
            inner, outer = inner_and_outer(gt[t])
            assert bool(red[t][inner].all()), (i, t)
            assert not bool(red[t][~outer].any()), (i, t)
            assert bool(gt[t].any()) == (data.frame_indices(i)[t] in data.videos[i].boxes)


def test_boxes_follow_frame_numbers_and_inclusive_corners(tmp_path: Path) -> None:
    write_act(tmp_path, _videos(), LABELS, frames=True)
    data = act_dataset(tmp_path, zoo.load("demo"))
    video = data.videos[1]  # boxes on 1-based frames 3..14 only
    frames = data.frame_indices(1)
    src = data.source_boxes(1)
    for t, f in enumerate(frames):
        if 3 <= f + 1 <= 14:
            assert src[t, 0].tolist() == [40.0, 20.0, 71.0, 51.0]
        else:
            assert bool(src[t].isnan().all())
    assert video.boxes[2] == [(40.0, 20.0, 71.0, 51.0)]  # frame 3 is index 2


def test_data_that_is_not_what_it_claims_is_listed_or_refused(tmp_path: Path) -> None:
    videos = _videos()
    videos.append(
        Video("Biking/v_Biking_g09_c01", 1, 20, (60, 80), {1: (70, 10, 85, 20)})
    )  # outside
    videos.append(
        Video("Fencing/v_Fencing_g01_c01", 7, 20, (60, 80), {1: (1, 1, 5, 5)})
    )  # no class 7
    videos.append(Video("Diving/v_Diving_g05_c02", 2, 20, (60, 80), {1: (1, 1, 5, 5)}))  # count
    videos.append(Video("Diving/v_Diving_g06_c02", 2, 20, (60, 80), {25: (1, 1, 5, 5)}))  # frame 25
    write_act(tmp_path, videos, LABELS)
    missing = Video("Biking/v_Biking_g10_c01", 1, 20, (60, 80), {1: (1, 1, 5, 5)})
    claims = {"Diving/v_Diving_g05_c02": 22}
    write_act(tmp_path, [*videos, missing], LABELS, frames=False, nframes_override=claims)
    data = act_dataset(tmp_path, zoo.load("demo"))
    assert len(data) == 3
    reasons = dict(data.skipped)
    assert len(reasons) == 5
    assert "outside its 80 x 60 frame" in reasons["Biking/v_Biking_g09_c01"]
    assert "class index 7 is not among the 3 labels" in reasons["Fencing/v_Fencing_g01_c01"]
    assert "holds 20 frame images; the annotation says 22" in reasons["Diving/v_Diving_g05_c02"]
    assert "box on frame 25, but the video has 20 frames" in reasons["Diving/v_Diving_g06_c02"]
    assert "is missing" in reasons["Biking/v_Biking_g10_c01"]
    with pytest.raises(
        ValueError, match=r"^UCF101v2-GT.pkl: video 'Biking/v_Biking_g09_c01': frame 1: box"
    ):
        act_dataset(tmp_path, zoo.load("demo"), on_problem="error")


def test_boxes_touching_or_just_past_the_edge_are_clipped_and_counted(tmp_path: Path) -> None:
    # 60 x 80 frames: the slack is 2 pixels on both sides (2% would be 1.2 and 1.6)
    videos = _videos()
    videos.append(  # inclusive x2 == W and y2 == H: one pixel past in continuous coordinates
        Video("Biking/v_Biking_g11_c01", 1, 20, (60, 80), {f: (50, 30, 80, 60) for f in (1, 2)})
    )
    videos.append(  # two pixels past on the left/top (x1 = -2): the most the slack allows
        Video("Diving/v_Diving_g12_c01", 2, 20, (60, 80), {3: (-2, -2, 10, 10)})
    )
    videos.append(  # three pixels past: farther than the slack, the video is left out as before
        Video("Diving/v_Diving_g13_c01", 2, 20, (60, 80), {3: (50, 30, 82, 40)})
    )
    write_act(tmp_path, videos, LABELS)
    data = act_dataset(tmp_path, zoo.load("demo"))
    assert len(data) == 5
    assert dict(data.clipped) == {"Biking/v_Biking_g11_c01": 2, "Diving/v_Diving_g12_c01": 1}
    assert (
        "(50, 30, 83, 41) lies outside its 80 x 60 frame"
        in dict(data.skipped)["Diving/v_Diving_g13_c01"]
    )
    edge = next(v for v in data.videos if v.name == "Biking/v_Biking_g11_c01")
    assert edge.boxes[0] == [(50.0, 30.0, 80.0, 60.0)] and edge.boxes[1] == edge.boxes[0]
    corner = next(v for v in data.videos if v.name == "Diving/v_Diving_g12_c01")
    assert corner.boxes[2] == [(0.0, 0.0, 11.0, 11.0)]
    inside = next(v for v in data.videos if v.name == "Basketball/v_Basketball_g01_c01")
    assert inside.boxes[0] == [(11.0, 8.0, 32.0, 41.0)]  # a box inside its frame is not touched
