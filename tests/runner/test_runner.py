"""The dataset runner in one process: results, failures, resumption, datasets and settings."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from tests.runner.tiny import CLASS_NAMES, CORRUPT, build, make_videos, tiny_adapter
from videoattr.datasets import SyntheticMotion
from videoattr.datasets.folders import adapter_reading, load_clip
from videoattr.runner import ResultStore, run

NUM_VIDEOS = 7


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("videos")
    return folder, make_videos(folder, NUM_VIDEOS)


def result_files(out: Path) -> list[str]:
    return sorted(os.listdir(out / "results"))


# -- a folder of videos ----------------------------------------------------------------------------
def test_folder_run_matches_explaining_each_clip_alone(
    videos: tuple[Path, list[str]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    explainer = build("grad_cam", adapter)
    caplog.set_level(logging.INFO, logger="videoattr.runner")
    summary = run(
        folder,
        adapter,
        explainer,
        tmp_path,
        batch_size=3,
        num_workers=2,
        progress=False,
        log_every_s=0,
    )
    log = caplog.text
    assert "rank 0/1 on cpu: 8 clips in its shard, 8 to do, 0 already complete" in log
    assert re.search(r"rank 0/1: 3/8 clips \(3 done, 0 failed\), [0-9.]+ clips/s", log)
    assert re.search(r"run finished: 8 clips: 7 done, 0 skipped, 1 failed in .* clips/s", log)

    assert (summary.total, summary.done, summary.skipped, summary.failed) == (
        NUM_VIDEOS + 1,
        NUM_VIDEOS,
        0,
        1,
    )
    good = [i for i in ids if i != CORRUPT]
    assert result_files(tmp_path) == sorted(f"{i}.npz" for i in good)
    store = ResultStore(tmp_path)
    for clip_id in good:
        path = folder / f"{clip_id}.gif"
        clip_len, sampling, preprocess = adapter_reading(adapter)
        clip = load_clip(  # the `explain` command's reading
            path, clip_len=clip_len, sampling=sampling, preprocess=preprocess
        )
        label = clip_id.split("-")[0]
        target = CLASS_NAMES.index(label)
        expected = explainer(clip, [target])[0]  # alone, not in a batch
        maps, meta = store.read_result(clip_id)
        assert maps.dtype == np.float32 and maps.shape == (1, 8, 32, 32)
        np.testing.assert_allclose(maps, expected.numpy(), atol=1e-6, rtol=1e-5)
        with torch.no_grad():
            probs = torch.softmax(adapter(clip), dim=1)[0]
        assert meta["id"] == clip_id and meta["source"] == str(path) and meta["label"] == label
        assert meta["target"] == {
            "index": target,
            "name": label,
            "prob": pytest.approx(float(probs[target]), rel=1e-5),
        }
        assert meta["prediction"]["index"] == int(probs.argmax())
        assert meta["method"] == "grad_cam" and meta["map_shape"] == [1, 8, 32, 32]
    assert summary.failures.keys() == {CORRUPT}
    failure = store.read_failure(CORRUPT)
    assert failure["error"].startswith("VideoReadError") and "Traceback" in failure["traceback"]

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"] == {
        "total": NUM_VIDEOS + 1,
        "done": NUM_VIDEOS,
        "failed": 1,
        "missing": 0,
    }
    status = {c["id"]: c["status"] for c in manifest["clips"]}
    assert status == {i: "failed" if i == CORRUPT else "done" for i in ids}
    assert manifest["last_run"]["world_size"] == 1


def test_rerun_skips_complete_clips_and_retries_failed_ones(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    first = run(folder, adapter, "grad", tmp_path, batch_size=4, num_workers=0, progress=False)
    before = {
        i: (tmp_path / "results" / f"{i}.npz").stat().st_mtime_ns for i in ids if i != CORRUPT
    }

    again = run(folder, adapter, "grad", tmp_path, batch_size=4, num_workers=0, progress=False)
    assert (first.done, first.failed) == (NUM_VIDEOS, 1)
    assert (again.done, again.skipped, again.failed) == (
        0,
        NUM_VIDEOS,
        1,
    )  # the corrupt clip retried
    after = {i: (tmp_path / "results" / f"{i}.npz").stat().st_mtime_ns for i in before}
    assert after == before  # complete results are not rewritten
    assert sorted(os.listdir(tmp_path / "failures")) == [f"{CORRUPT}.json"]

    no_retry = run(
        folder,
        adapter,
        "grad",
        tmp_path,
        batch_size=4,
        num_workers=0,
        progress=False,
        retry_failed=False,
    )
    assert (no_retry.done, no_retry.skipped, no_retry.failed) == (0, NUM_VIDEOS + 1, 0)


def test_partial_and_temporary_files_are_not_taken_as_complete(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    run(folder, adapter, "grad", tmp_path, batch_size=2, num_workers=0, progress=False)
    store = ResultStore(tmp_path)
    victim, other = ids[0], ids[1]
    reference = store.read_result(victim)[0]
    path = store.result_path(victim)
    path.write_bytes(path.read_bytes()[:100])  # a truncated result, as a non-atomic copy leaves it
    store.result_path(other).unlink()
    stale = tmp_path / "results" / f".{other}.npz.99999.tmp"
    stale.write_bytes(b"half a file")
    store.write_failure(ids[2], {"error": "left by a crash after its result was written"})

    assert victim not in store.complete_ids() and other not in store.complete_ids()
    summary = run(folder, adapter, "grad", tmp_path, batch_size=2, num_workers=0, progress=False)
    assert (summary.done, summary.failed) == (2, 1)
    assert not stale.exists()
    assert store.failed_ids() == {CORRUPT}
    np.testing.assert_array_equal(store.read_result(victim)[0], reference)
    assert store.complete_ids() == {i for i in ids if i != CORRUPT}


def test_other_settings_in_the_same_folder_are_refused(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, _ = videos
    adapter = tiny_adapter()
    run(folder, adapter, "grad", tmp_path, num_workers=0, progress=False)
    with pytest.raises(ValueError, match=r"other settings.*method"):
        run(folder, adapter, "grad_cam", tmp_path, num_workers=0, progress=False)
    # Settings that do not change results (batch size, workers, progress) may differ on resume.
    summary = run(folder, adapter, "grad", tmp_path, batch_size=3, num_workers=1, progress=True)
    assert summary.skipped == NUM_VIDEOS


def test_fixed_target_by_index_or_name(videos: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    run(folder, adapter, "grad", tmp_path / "a", target="left", num_workers=0, progress=False)
    run(folder, adapter, "grad", tmp_path / "b", target=2, num_workers=0, progress=False)
    a, b = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    for clip_id in ids[:3]:
        (ma, meta_a), (mb, meta_b) = a.read_result(clip_id), b.read_result(clip_id)
        assert meta_a["target"]["index"] == meta_b["target"]["index"] == 2
        np.testing.assert_array_equal(ma, mb)
    with pytest.raises(ValueError, match="target 'sideways'"):
        run(folder, adapter, "grad", tmp_path / "c", target="sideways", progress=False)


def test_a_model_that_is_not_an_adapter_needs_a_dataset(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="adapter"):
        run(videos[0], torch.nn.Conv3d(3, 4, 1), "grad", tmp_path)


# -- a Dataset --------------------------------------------------------------------------------------
def test_dataset_results_equal_one_batched_call(tmp_path: Path) -> None:
    data = SyntheticMotion(num_classes=4, clip_len=8, size=32, length=5, seed=1)
    adapter = tiny_adapter()
    explainer = build("smooth_grad", adapter)
    summary = run(data, adapter, explainer, tmp_path, batch_size=5, num_workers=0, progress=False)
    assert (summary.done, summary.failed) == (5, 0)

    x = torch.stack([data[i][0] for i in range(5)])
    labels = [data[i][1] for i in range(5)]
    # The runner seeds each clip's noise with its id, so a clip's map does not depend on its batch.
    expected = explainer.attribute(x, labels, keys=[f"{i:06d}" for i in range(5)]).numpy()
    store = ResultStore(tmp_path)
    for i in range(5):
        maps, meta = store.read_result(f"{i:06d}")
        np.testing.assert_array_equal(maps, expected[i])
        assert meta["target"]["index"] == labels[i] and meta["index"] == i


class Items(torch.utils.data.Dataset[Any]):
    """Clips with ids; item 1 raises, item 2 names the wrong id, item 3 asks for a class the model lacks."""

    def __init__(self) -> None:
        self.ids = ["a", "b", "c", "d", "e"]
        self.sources = [f"memory://{i}" for i in self.ids]

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> tuple[Tensor, Any, str]:
        if i == 1:
            raise OSError("disk on fire")
        clip = torch.randn(3, 8, 32, 32, generator=torch.Generator().manual_seed(i))
        target: Any = {0: "down", 3: 7}.get(i)
        return clip, target, "zz" if i == 2 else self.ids[i]


def test_dataset_failures_are_recorded_per_clip(tmp_path: Path) -> None:
    adapter = tiny_adapter()
    summary = run(Items(), adapter, "grad", tmp_path, batch_size=5, num_workers=0, progress=False)
    assert (summary.done, summary.failed) == (2, 3)
    assert summary.failures["b"] == "OSError: disk on fire"
    assert "says its id is 'zz'" in summary.failures["c"]
    assert "target class 7 of clip d is outside the model's 4 classes" in summary.failures["d"]
    store = ResultStore(tmp_path)
    assert store.complete_ids() == {"a", "e"}
    _, meta_a = store.read_result("a")
    _, meta_e = store.read_result("e")
    assert meta_a["target"]["name"] == "down" and meta_a["source"] == "memory://a"
    assert meta_e["target"]["index"] == meta_e["prediction"]["index"]  # None: the top class
    # After the batch failed as a whole, a and e were attributed one by one.
    assert meta_a["batch_size"] == meta_e["batch_size"] == 1


def test_results_do_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    data = SyntheticMotion(num_classes=4, clip_len=8, size=32, length=4, seed=2)
    adapter = tiny_adapter()
    run(data, adapter, "grad", tmp_path / "1", batch_size=1, num_workers=0, progress=False)
    run(data, adapter, "grad", tmp_path / "3", batch_size=3, num_workers=0, progress=False)
    one, three = ResultStore(tmp_path / "1"), ResultStore(tmp_path / "3")
    for i in range(4):
        a, b = one.read_result(f"{i:06d}")[0], three.read_result(f"{i:06d}")[0]
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-6)


def test_perturbation_results_hold_one_mask_per_area_and_the_preserved_probability(
    tmp_path: Path,
) -> None:
    from videoattr.methods.extremal import Perturbation

    data = SyntheticMotion(num_classes=4, clip_len=8, size=32, length=2, seed=4)
    adapter = tiny_adapter()
    explainer = build("3d_ep", adapter)
    summary = run(
        data,
        adapter,
        explainer,
        tmp_path,
        areas=(0.1, 0.3),
        batch_size=2,
        num_workers=0,
        progress=False,
    )
    assert summary.done == 2
    store = ResultStore(tmp_path)
    for i in range(2):
        masks, meta = store.read_result(f"{i:06d}")
        assert masks.shape == (2, 8, 32, 32) and masks.min() >= 0 and masks.max() <= 1
        assert meta["areas"] == [0.1, 0.3] and len(meta["preserved_prob"]) == 2
        x = data[i][0][None]
        preserved = Perturbation(x).apply(torch.from_numpy(masks), torch.zeros(2, dtype=torch.long))
        with torch.no_grad():
            p = torch.softmax(adapter(preserved), dim=1)[:, data[i][1]]
        np.testing.assert_allclose(meta["preserved_prob"], p.numpy(), atol=2e-3)


def test_clips_of_different_sizes_in_one_batch_are_attributed_by_size(tmp_path: Path) -> None:
    sizes = [32, 24, 32, 24]
    clips = [
        torch.randn(3, 8, s, s, generator=torch.Generator().manual_seed(i))
        for i, s in enumerate(sizes)
    ]
    data = [(c, 1) for c in clips]
    adapter = tiny_adapter()
    summary = run(data, adapter, "grad", tmp_path, batch_size=4, num_workers=0, progress=False)
    assert (summary.done, summary.failed) == (4, 0)
    store = ResultStore(tmp_path)
    explainer = build("grad", adapter)
    for i, s in enumerate(sizes):
        maps, meta = store.read_result(f"{i:06d}")
        assert maps.shape == (1, 8, s, s) and meta["batch_size"] == 2
        pair = torch.stack([clips[j] for j in range(4) if sizes[j] == s])
        expected = explainer(pair, [1, 1])[[j for j in range(4) if sizes[j] == s].index(i)]
        np.testing.assert_array_equal(maps, expected.numpy())
