"""Results that must not be silently wrong: damaged files, small maps, two runners, changed settings."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.runner.tiny import CORRUPT, Slow, build, make_videos, tiny_adapter
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.runner import ClipLocks, ResultStore, run
from videoattr.runner import engine as engine_module


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("videos")
    return folder, make_videos(folder, 5)


def test_a_bit_flipped_result_of_the_same_size_is_redone(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    run(folder, adapter, "grad", tmp_path, batch_size=2, num_workers=0, progress=False)
    store = ResultStore(tmp_path)
    victim = ids[0]
    reference = store.read_result(victim)[0]
    path = store.result_path(victim)
    with np.load(path) as data:  # find the stored maps' bytes and flip one bit of a value
        raw = data["maps"].tobytes()
    blob = bytearray(path.read_bytes())
    assert len(blob) > 0
    # Rewrite the archive uncompressed so a flipped bit lands in the array, not in zlib's stream.
    maps, meta = store.read_result(victim)
    with open(path, "wb") as f:
        np.savez(f, maps=maps, meta=np.asarray(json.dumps(meta)))
    size = path.stat().st_size
    blob = bytearray(path.read_bytes())
    offset = bytes(blob).index(raw[:64]) + 40
    blob[offset] ^= 0x10
    path.write_bytes(bytes(blob))
    assert path.stat().st_size == size
    assert store.is_valid_result(path) is False
    assert victim not in store.complete_ids()

    summary = run(folder, adapter, "grad", tmp_path, batch_size=2, num_workers=0, progress=False)
    assert summary.done == 1 and summary.skipped == len(ids) - 2
    np.testing.assert_array_equal(store.read_result(victim)[0], reference)


@pytest.mark.parametrize("scale", [1e-6, 1e-8, 1e-30])
def test_small_maps_round_trip_exactly(tmp_path: Path, scale: float) -> None:
    rng = np.random.default_rng(0)
    maps = (rng.random((2, 4, 8, 8)) * scale).astype(np.float32)
    store = ResultStore(tmp_path)
    store.write_result("small", maps, {})
    back, meta = store.read_result("small")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, maps)
    assert np.count_nonzero(back) == np.count_nonzero(maps)
    assert meta["checksum"].startswith("sha256:")


# -- two runners on one folder ------------------------------------------------------------------------
def test_two_runners_on_one_folder_do_each_clip_once(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, ids = videos
    summaries = {}
    torch.set_num_threads(1)

    def work(name: str) -> None:
        adapter = tiny_adapter()  # one model per runner (one model is not shared by threads)
        explainer = Slow(build("grad", adapter), 0.3)
        summaries[name] = run(
            folder, adapter, explainer, tmp_path, batch_size=1, num_workers=0, progress=False
        )

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = summaries["a"], summaries["b"]
    good = len(ids) - 1
    assert a.done + b.done == good  # no clip written twice
    assert a.done > 0 and b.done > 0
    assert a.failed + b.failed == 1 and (a.busy + b.busy + a.skipped + b.skipped) >= good
    assert ResultStore(tmp_path).complete_ids() == {i for i in ids if i != CORRUPT}
    assert not list((tmp_path / "locks").glob("*.lock"))  # every lock given back


def test_a_live_lock_is_respected_and_a_stale_one_taken_over(tmp_path: Path) -> None:
    mine = ClipLocks(tmp_path)
    other = ClipLocks(tmp_path)
    assert mine.acquire("x") and not other.acquire("x")
    record = other.owner("x")
    assert record is not None and record["pid"] == os.getpid() and record["run_id"] == mine.run_id
    assert {"host", "time"} <= record.keys()
    mine.release("x")
    assert other.acquire("x")
    # A lock of a process that ended on this host is stale.
    path = other.path("x")
    path.write_text(json.dumps({"pid": 2**22 + 12345, "host": other.host, "run_id": "dead"}))
    other.held.clear()
    assert mine.acquire("x")
    # A lock of another host is respected until it is older than the timeout.
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "run_id": "far"}))
    mine.held.clear()
    assert not ClipLocks(tmp_path).acquire("x")
    os.utime(path, (0, 0))
    assert ClipLocks(tmp_path, stale_after_s=3600).acquire("x")


# -- the resume guard -----------------------------------------------------------------------------------
def test_run_json_records_what_makes_results_bit_reproducible(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    run(videos[0], tiny_adapter(), "grad", tmp_path, num_workers=0, progress=False)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["rounding"] == {
        "max_batch_size": GRADIENT_BATCH,  # saliency's default bound
        "device": "cpu",
        "threads": torch.get_num_threads(),
    }
    assert "threads" in record["reproducibility"] and "max_batch_size" in record["reproducibility"]
    assert record["config"]["version"] == engine_module.__version__
    assert record["config"]["method"] == record["config"]["settings"]["method"] == "saliency"


def test_resume_refuses_another_method_configuration_or_version(
    videos: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = videos
    adapter = tiny_adapter()
    explainer = build("integrated_grad", adapter)
    run(folder, adapter, explainer, tmp_path, num_workers=0, progress=False)
    other = build("integrated_grad", adapter, steps=7)
    with pytest.raises(ValueError, match=r"other settings \(differing: .*settings\.steps"):
        run(folder, adapter, other, tmp_path, num_workers=0, progress=False)
    monkeypatch.setattr(engine_module, "__version__", "99.0")
    with pytest.raises(ValueError, match=r"differing: version"):
        run(folder, adapter, explainer, tmp_path, num_workers=0, progress=False)


def test_resume_with_other_rounding_settings_warns(
    videos: tuple[Path, list[str]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    run(folder, adapter, "grad", tmp_path, num_workers=0, progress=False)
    caplog.set_level(logging.WARNING, logger="videoattr.runner")
    explainer = build("grad", adapter, max_batch_size=1)
    summary = run(folder, adapter, explainer, tmp_path, num_workers=0, progress=False)
    assert summary.skipped == len(ids) - 1
    assert f"other rounding-level settings (max_batch_size {GRADIENT_BATCH} -> 1)" in caplog.text


def test_smoothgrad_redone_with_another_batch_size_gets_the_same_noise(
    videos: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, ids = videos
    adapter = tiny_adapter()
    method = build("smooth_grad", adapter)
    run(folder, adapter, method, tmp_path, batch_size=2, num_workers=0, progress=False)
    store = ResultStore(tmp_path)
    victim = ids[3]  # second in its batch of 2, first in its batch of 3
    before = store.read_result(victim)[0]
    store.result_path(victim).unlink()
    summary = run(folder, adapter, method, tmp_path, batch_size=3, num_workers=0, progress=False)
    assert summary.done == 1
    after = store.read_result(victim)[0]
    scale = float(np.abs(before).max())
    assert scale > 0
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-5 * scale)
