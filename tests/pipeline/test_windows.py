"""Whole videos by sliding windows: window placement, stitching, scores, batching, targets, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from tests.helpers import tiny_cnn3d
from videoattr import io
from videoattr.core.base import Attributor
from videoattr.methods import build_attributor
from videoattr.pipeline import (
    VideoFrames,
    explain_video,
    explain_video_classes,
    read_frames,
    window_starts,
)
from videoattr.pipeline.windows import score_windows
from videoattr.zoo import wrap


def expected_starts(n: int, t: int, s: int) -> list[int]:
    """The documented rule, written out independently of the library."""
    if n <= t:
        return [0]
    out = []
    p = 0
    while p + t <= n:
        out.append(p)
        p += s
    if out[-1] != n - t:
        out.append(n - t)
    return out


class FirstFrameValue(Attributor):
    """A fake method whose map is constant per window: the value of the window's first pixel."""

    def attribute(self, x: Tensor, target: Any = None) -> Tensor:
        b, _, t, h, w = x.shape
        return x[:, 0, 0, 0, 0].view(b, 1, 1, 1, 1).expand(b, 1, t, h, w).clone()


class FrameValues(Attributor):
    """A fake method whose map is the first channel of the window: frame ``f`` maps to its value."""

    def attribute(self, x: Tensor, target: Any = None) -> Tensor:
        return x[:, :1].clone()


def index_clip(n: int, h: int = 3, w: int = 4) -> Tensor:
    """A float64 clip ``(1, 3, n, h, w)`` whose frame ``i`` holds the value ``i`` everywhere."""
    values = torch.arange(n, dtype=torch.float64).view(1, 1, n, 1, 1)
    return values.expand(1, 3, n, h, w).clone()


@pytest.mark.parametrize("n", [1, 5, 8, 9, 16, 20, 23, 37])
@pytest.mark.parametrize(("t", "s"), [(8, 4), (8, 3), (8, 8), (8, 7), (1, 1), (4, 1)])
def test_window_starts_follow_the_rule_and_cover_every_frame(n: int, t: int, s: int) -> None:
    starts = window_starts(n, t, s)
    assert starts == expected_starts(n, t, s)
    covered = set()
    for p in starts:
        covered.update(range(p, min(p + t, n)))
    assert covered == set(range(n))
    assert starts == sorted(set(starts))


@pytest.mark.parametrize(("n", "t", "s"), [(23, 8, 4), (20, 8, 4), (17, 6, 5), (9, 8, 2)])
def test_stitching_averages_the_windows_covering_each_frame(n: int, t: int, s: int) -> None:
    model = tiny_cnn3d().double()
    clip = index_clip(n)
    result = explain_video(model, FirstFrameValue(model), clip, clip_len=t, stride=s)
    starts = expected_starts(n, t, s)
    expected = torch.empty(n, dtype=torch.float64)
    for f in range(n):
        covering = [p for p in starts if p <= f < p + t]
        assert covering, f"frame {f} uncovered"
        expected[f] = sum(covering) / len(covering)  # window p's map is p (its first frame)
    assert result.maps.shape == (1, n, 3, 4)
    torch.testing.assert_close(result.maps[0, :, 0, 0], expected, rtol=0, atol=1e-12)
    assert result.coverage.tolist() == [sum(1 for p in starts if p <= f < p + t) for f in range(n)]
    assert result.window_starts.tolist() == starts
    # a method whose map is the frame itself stitches back to the frames exactly
    same = explain_video(model, FrameValues(model), clip, clip_len=t, stride=s)
    torch.testing.assert_close(same.maps[0], clip[0, 0], rtol=0, atol=1e-12)


def test_window_scores_equal_the_model_on_each_window() -> None:
    torch.manual_seed(0)
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 21, 16, 16, dtype=torch.float64)
    result = explain_video(model, "saliency", clip, clip_len=8, stride=5, max_batch_size=2)
    starts = expected_starts(21, 8, 5)
    assert result.window_starts.tolist() == starts
    with torch.no_grad():
        direct = torch.cat(
            [torch.softmax(model(clip[:, :, p : p + 8]), dim=1) for p in starts]
        ).float()
    torch.testing.assert_close(result.probabilities, direct, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.target_probability, direct[:, result.target])
    assert result.target == int(direct.mean(dim=0).argmax())  # default: the top mean class
    assert result.prediction.tolist() == direct.argmax(dim=1).tolist()


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_batching_does_not_change_the_result(method: str) -> None:
    torch.manual_seed(1)
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 13, 8, 8, dtype=torch.float64)
    opts = {"steps": 3} if method == "integrated_gradients" else {}
    att = build_attributor(method, model, **opts)
    runs = [
        explain_video(model, att, clip, clip_len=6, stride=4, max_batch_size=b, target=2)
        for b in (1, 3, 100)
    ]
    for other in runs[1:]:
        torch.testing.assert_close(other.maps, runs[0].maps, rtol=0, atol=1e-12)
        torch.testing.assert_close(other.probabilities, runs[0].probabilities)


def test_every_window_is_the_attribution_of_that_clip() -> None:
    """Stitching a real method: the map of a frame covered by one window is that window's map."""
    torch.manual_seed(2)
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 12, 10, 10, dtype=torch.float64)
    att = build_attributor("saliency", model)
    result = explain_video(model, att, clip, clip_len=6, stride=6, target=1)  # no overlap
    for p in (0, 6):
        direct = att.attribute(clip[:, :, p : p + 6], 1)
        torch.testing.assert_close(result.maps[0, p : p + 6], direct[0, 0], rtol=0, atol=1e-12)


def test_perturbation_masks_are_stitched_per_area() -> None:
    model = tiny_cnn3d().eval()
    clip = torch.randn(1, 3, 10, 12, 12)
    att = build_attributor("step", model, max_iter=2, progress=False, areas=(0.1, 0.3))
    result = explain_video(model, att, clip, clip_len=8, stride=4)
    assert result.maps.shape == (2, 10, 12, 12)
    assert result.areas == (0.1, 0.3)
    assert float(result.maps.min()) >= 0 and float(result.maps.max()) <= 1


def test_targets_by_index_name_and_errors() -> None:
    net = tiny_cnn3d(num_classes=3)
    names = ["abseiling", "juggling", "surfing"]
    adapter = wrap(net, (0.5,) * 3, (0.25,) * 3, clip_len=4, size=8, class_names=names).eval()
    frames = torch.randint(0, 256, (11, 10, 12, 3), dtype=torch.uint8)
    by_name = explain_video(adapter, "saliency", frames, target="Juggling", stride=2)
    assert by_name.target == 1 and by_name.target_name == "juggling"
    by_index = explain_video(adapter, "saliency", frames, target=1, stride=2)
    torch.testing.assert_close(by_index.maps, by_name.maps)
    with pytest.raises(ValueError, match="target 'rowing'"):
        explain_video(adapter, "saliency", frames, target="rowing")
    with pytest.raises(ValueError, match="target 5"):
        explain_video(adapter, "saliency", frames, target=5)
    assert "juggling" in repr(by_name) and "windows=" in repr(by_name)
    summary = by_name.summary()
    assert summary["target"]["name"] == "juggling"
    assert len(summary["windows"]) == len(expected_starts(11, 4, 2))


def test_bad_arguments_raise_clear_errors() -> None:
    model = tiny_cnn3d()
    clip = torch.randn(1, 3, 10, 8, 8)
    with pytest.raises(ValueError, match="stride must be an int >= 1; got 0"):
        explain_video(model, "saliency", clip, clip_len=4, stride=0)
    with pytest.raises(ValueError, match="stride must be an int >= 1; got -2"):
        explain_video(model, "saliency", clip, clip_len=4, stride=-2)
    with pytest.raises(ValueError, match=r"stride must be at most clip_len=4 .*; got stride=5"):
        explain_video(model, "saliency", clip, clip_len=4, stride=5)
    with pytest.raises(TypeError, match="clip_len must be given"):
        explain_video(model, "saliency", clip)
    with pytest.raises(ValueError, match="short_video must be one of"):
        explain_video(model, "saliency", clip, clip_len=4, short_video="loop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_batch_size must be an int >= 1"):
        explain_video(model, "saliency", clip, clip_len=4, max_batch_size=0)
    with pytest.raises(ValueError, match="scores must be the"):
        explain_video(model, "saliency", clip, clip_len=4, scores=torch.zeros(2, 5))
    with pytest.raises(io.VideoTooShortError, match="fewer than one window of clip_len=16"):
        explain_video(model, "saliency", clip, clip_len=16, short_video="error")


def test_a_short_video_is_padded_with_its_last_frame() -> None:
    torch.manual_seed(3)
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 5, 8, 8, dtype=torch.float64)
    result = explain_video(model, "saliency", clip, clip_len=8, target=0)
    assert result.padded == 3 and result.maps.shape == (1, 5, 8, 8)
    padded = torch.cat([clip, clip[:, :, -1:].expand(1, 3, 3, 8, 8)], dim=2)
    direct = build_attributor("saliency", model).attribute(padded, 0)
    torch.testing.assert_close(result.maps[0], direct[0, 0, :5], rtol=0, atol=1e-12)
    with torch.no_grad():
        p = torch.softmax(model(padded), dim=1).float()
    torch.testing.assert_close(result.probabilities, p, rtol=0, atol=1e-6)


def test_scores_of_an_earlier_call_are_reused() -> None:
    model = tiny_cnn3d().eval()
    clip = torch.randn(1, 3, 13, 8, 8)
    first = explain_video(model, "saliency", clip, clip_len=4, stride=3, target=2)
    fake = torch.zeros_like(first.probabilities)
    fake[:, 4] = 1.0
    second = explain_video(model, "saliency", clip, clip_len=4, stride=3, scores=fake)
    assert second.target == 4  # chosen from the given scores, not recomputed
    torch.testing.assert_close(second.probabilities, fake)


def test_frame_step_windows_equal_the_adapters_preprocessing() -> None:
    net = tiny_cnn3d(num_classes=3)
    adapter = wrap(net, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), clip_len=4, size=8).eval()
    adapter.preprocessing = type(adapter.preprocessing)((9, 11), (8, 8), adapter.mean, adapter.std)
    g = torch.Generator().manual_seed(4)
    frames = torch.randint(0, 256, (19, 14, 17, 3), dtype=torch.uint8, generator=g)
    video = read_frames(frames, adapter, frame_step=2, chunk_size=3)
    assert len(video) == 10 and video.num_frames == 19 and video.frame_step == 2
    assert video.frame_indices.tolist() == list(range(0, 19, 2))
    windows = video.windows([0, 6], 4)
    for b, p in enumerate((0, 6)):
        direct = adapter.preprocess(frames[video.frame_indices[p : p + 4]])
        torch.testing.assert_close(windows[b : b + 1], direct, rtol=0, atol=0)
    result = explain_video(adapter, "saliency", video, stride=3)
    assert result.window_starts.tolist() == [2 * p for p in expected_starts(10, 4, 3)]
    held = result.per_video_frame()
    assert held.shape == (1, 19, 8, 8)
    for f in range(19):
        torch.testing.assert_close(held[:, f], result.maps[:, f // 2])
    probs = score_windows(adapter, video, expected_starts(10, 4, 3), 4, max_batch_size=1)
    torch.testing.assert_close(probs, result.probabilities, rtol=0, atol=1e-6)


def test_read_frames_from_files_equals_reading_the_frames(tmp_path: Any) -> None:
    net = tiny_cnn3d(num_classes=3)
    adapter = wrap(net, (0.5,) * 3, (0.25,) * 3, clip_len=4, size=8).eval()
    g = torch.Generator().manual_seed(5)
    frames = torch.randint(0, 256, (9, 12, 14, 3), dtype=torch.uint8, generator=g)
    io.write_frames(tmp_path / "frames", frames)
    io.write_video(tmp_path / "v.gif", frames, fps=10)
    expected = read_frames(frames, adapter, frame_step=2)
    for source in (tmp_path / "frames", tmp_path / "v.gif"):
        got = read_frames(source, adapter, frame_step=2, chunk_size=2)
        assert torch.equal(got.frames, expected.frames), source
        assert got.num_frames == 9
    assert read_frames(tmp_path / "frames", adapter).fps is None
    assert read_frames(tmp_path / "v.gif", adapter).fps == pytest.approx(10.0)
    with pytest.raises(TypeError, match="read_frames needs a zoo adapter"):
        read_frames(frames, tiny_cnn3d())


@pytest.mark.parametrize("step", [1, 3])
def test_iter_frames_streams_what_read_video_reads(tmp_path: Any, step: int) -> None:
    from tests.io.clips import smooth_clip

    clip = torch.from_numpy(smooth_clip(t=11))
    io.write_video(tmp_path / "v.mp4", clip, fps=25)
    whole = io.read_video(tmp_path / "v.mp4")
    chunks = list(io.iter_frames(tmp_path / "v.mp4", step=step, chunk_size=2))
    assert all(1 <= len(c) <= 2 for c in chunks)
    assert torch.equal(torch.cat(chunks), whole[::step])
    assert io.video_fps(tmp_path / "v.mp4") == pytest.approx(25.0)
    with pytest.raises(ValueError, match="step must be an int >= 1"):
        io.iter_frames(tmp_path / "v.mp4", step=0)
    with pytest.raises(FileNotFoundError):
        io.iter_frames(tmp_path / "missing.mp4")


def test_video_frames_from_a_clip_checks_its_shape() -> None:
    with pytest.raises(ValueError, match=r"clip must have shape \(1, C, M, H, W\)"):
        VideoFrames.from_clip(torch.zeros(2, 3, 4, 5, 5))
    with pytest.raises(TypeError, match="clip must be a float tensor"):
        VideoFrames.from_clip(torch.zeros(3, 4, 5, 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match="num_frames=30 does not match"):
        VideoFrames.from_clip(torch.zeros(3, 4, 5, 5), frame_step=2, num_frames=30)
    v = VideoFrames.from_clip(torch.zeros(1, 3, 4, 5, 5), frame_step=3, num_frames=11)
    assert v.frame_indices.tolist() == [0, 3, 6, 9] and "4 of 11 frames" in repr(v)
    assert np.array_equal(v.pictures().shape, (4, 5, 5, 3))


def test_noise_of_each_window_does_not_depend_on_the_batching() -> None:
    """SmoothGrad seeds each window's noise with ``<key>@<start frame>``."""
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 11, 8, 8, dtype=torch.float64)
    att = build_attributor("smoothgrad", model, n=3)
    one = explain_video(model, att, clip, clip_len=4, stride=3, max_batch_size=1, target=0)
    many = explain_video(model, att, clip, clip_len=4, stride=3, max_batch_size=4, target=0)
    torch.testing.assert_close(one.maps, many.maps, rtol=0, atol=1e-12)
    other = explain_video(model, att, clip, clip_len=4, stride=3, target=0, key="other")
    assert not torch.allclose(other.maps, one.maps)


def test_frame_step_on_a_float_clip_keeps_every_kth_frame() -> None:
    model = tiny_cnn3d().double()
    clip = index_clip(15)
    result = explain_video(model, FrameValues(model), clip, clip_len=4, stride=2, frame_step=3)
    assert result.frame_indices.tolist() == [0, 3, 6, 9, 12] and result.num_frames == 15
    torch.testing.assert_close(result.maps[0, :, 0, 0], result.frame_indices.double())
    assert result.window_starts.tolist() == [0, 3]  # sampled positions 0 and 1, times 3
    held = result.per_video_frame()[0, :, 0, 0]
    assert held.tolist() == [float(3 * (f // 3)) for f in range(15)]


def test_every_registered_method_explains_a_whole_video() -> None:
    """No per-method code: each registered method (with the quick options of the cross-cutting
    tests) gives stitched maps of the video's length, one per area for perturbation masks."""
    from tests.test_all_methods import FAST, model_for
    from videoattr.methods import method_info, method_names

    clip = torch.randn(1, 3, 11, 16, 16)
    for name in method_names():
        model = model_for(name).eval()  # the attention methods run on a tiny transformer
        att = build_attributor(name, model, **FAST.get(name, {}))
        result = explain_video(model, att, clip, clip_len=8, stride=4, max_batch_size=2)
        areas = 1 if method_info(name).kind != "perturbation" else len(result.areas)
        assert result.maps.shape == (areas, 11, 16, 16), name
        assert result.method == name and torch.isfinite(result.maps).all(), name
        assert result.window_starts.tolist() == [0, 3]


def test_the_best_window_is_named_by_its_span_in_the_video() -> None:
    """Captions and logs name the whole window (start to end), as the timeline draws it."""
    import dataclasses

    model = tiny_cnn3d().double()
    clip = index_clip(15)
    result = explain_video(model, FrameValues(model), clip, clip_len=4, stride=2, frame_step=3)
    starts, ends = result.window_starts.tolist(), result.window_ends.tolist()
    best = int(result.target_probability.argmax())
    p = float(result.target_probability[best])
    assert result.window_span(1) == f"frames {starts[1]}-{ends[1]}" == "frames 3-12"
    assert result.best_window() == f"max {p:.3f} in the window frames {starts[best]}-{ends[best]}"
    timed = dataclasses.replace(result, fps=6.0)
    # window 1 (aligned to the end): video frames 3..12, from 0.5 s to the end of frame 12 at 13 / 6 s
    assert timed.window_span(1) == "0.5-2.2 s"
    assert f"max {p:.3f} in the window" in repr(timed)


class CountingSaliency(Attributor):
    """Saliency that counts the windows it explains and the classes they were explained for."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model)
        self.inner = build_attributor("saliency", model)
        self.targets: list[int] = []

    def attribute(self, x: Tensor, target: Any = None) -> Tensor:
        self.targets.extend(int(t) for t in torch.as_tensor(target).view(-1).tolist())
        return self.inner.attribute(x, target=target)


def test_several_classes_equal_one_explain_video_each_and_come_one_at_a_time() -> None:
    torch.manual_seed(3)
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 13, 8, 8, dtype=torch.float64)
    counting = CountingSaliency(model)
    results = explain_video_classes(model, counting, clip, [2, 0], clip_len=6, stride=4)
    assert counting.targets == []  # nothing computed before the first is asked for
    first = next(results)
    assert set(counting.targets) == {2}  # the second class waits for the caller
    second = next(results)
    assert [first.target, second.target] == [2, 0] and next(results, None) is None
    for result in (first, second):
        alone = explain_video(model, "saliency", clip, clip_len=6, stride=4, target=result.target)
        torch.testing.assert_close(result.maps, alone.maps, rtol=0, atol=1e-12)
        torch.testing.assert_close(result.probabilities, alone.probabilities)


def test_the_top_k_classes_are_those_of_highest_mean_probability() -> None:
    torch.manual_seed(4)
    model = tiny_cnn3d().double().eval()
    clip = torch.randn(1, 3, 11, 8, 8, dtype=torch.float64)
    results = list(explain_video_classes(model, "saliency", clip, 3, clip_len=4, stride=2))
    mean = results[0].probabilities.mean(dim=0)
    assert [r.target for r in results] == mean.topk(3).indices.tolist()
    default = explain_video(model, "saliency", clip, clip_len=4, stride=2)
    assert default.target == results[0].target
    torch.testing.assert_close(results[0].maps, default.maps, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("targets", "error", "match"),
    [
        ([], ValueError, "at least one class"),
        (0, ValueError, "targets"),
        (True, TypeError, "targets"),
    ],
)
def test_explain_video_classes_checks_its_targets_at_the_call(
    targets: Any, error: type[Exception], match: str
) -> None:
    model = tiny_cnn3d().double()
    with pytest.raises(error, match=match):
        explain_video_classes(model, "saliency", index_clip(9), targets, clip_len=4)


class WindowsPerCall(Attributor):
    """A fake method that records how many windows each call gets; its map is the first channel."""

    def __init__(self, model: torch.nn.Module, *, max_batch_size: int | None = None) -> None:
        super().__init__(model, max_batch_size=max_batch_size)
        self.calls: list[int] = []

    def attribute(self, x: Tensor, target: Any = None) -> Tensor:
        self.calls.append(x.shape[0])
        return x[:, :1].clone()


@pytest.mark.parametrize(
    ("own", "given", "bound"),
    [(None, None, 8), (3, None, 3), (3, 5, 5), (None, 27, 27), (2, 100, 100)],
)
def test_windows_per_call_are_bounded_unless_a_bound_is_given(
    own: int | None, given: int | None, bound: int
) -> None:
    """``max_batch_size=None`` is the attributor's own int bound, else 8 windows per call, for the
    scoring pass and for the method: never every window at once (27 windows here)."""
    sizes: list[int] = []

    class Counting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn3d().double()

        def forward(self, x: Tensor) -> Tensor:
            sizes.append(x.shape[0])
            out: Tensor = self.net(x)
            return out

    model = Counting()
    att = WindowsPerCall(model, max_batch_size=own)
    result = explain_video(model, att, index_clip(30), clip_len=4, stride=1, max_batch_size=given)
    windows = len(expected_starts(30, 4, 1))
    expected = [min(bound, windows - i) for i in range(0, windows, bound)]
    assert windows == 27 and sizes == expected and att.calls == expected
    assert result.config["max_batch_size"] == bound
    torch.testing.assert_close(result.maps[0, :, 0, 0], torch.arange(30, dtype=torch.float64))
