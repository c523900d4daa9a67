"""The dataset runner across processes: ``torchrun`` shards, a killed run resumed, the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.runner import tiny
from tests.runner.tiny import CORRUPT, Slow, build, make_videos, tiny_adapter
from videoattr.runner import ResultStore, run

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(tiny.__file__).resolve()
TORCHRUN = Path(sys.executable).with_name("torchrun")
SLOW_ARGS = ("--batch-size", "2", "--delay", "0.6", "--num-workers", "1")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src"), e.get("PYTHONPATH", "")])
    e["OMP_NUM_THREADS"] = "1"
    return e


def reference(folder: Path, out: Path, method: str, batch_size: int) -> ResultStore:
    """The single-process run, in this process, one thread (as each torchrun rank has)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        adapter = tiny_adapter()
        explainer = build(method, adapter)
        run(folder, adapter, explainer, out, batch_size=batch_size, num_workers=0, progress=False)
    finally:
        torch.set_num_threads(threads)
    return ResultStore(out)


def check_one_result_per_clip(out: Path, ids: list[str]) -> None:
    """Exactly one complete result per readable clip, no temporary file, one failure record."""
    good = sorted(i for i in ids if i != CORRUPT)
    assert sorted(os.listdir(out / "results")) == [f"{i}.npz" for i in good]
    assert sorted(os.listdir(out / "failures")) == [f"{CORRUPT}.json"]
    assert ResultStore(out).complete_ids() == set(good)


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``torchrun --nproc_per_node=2 -m videoattr run`` (gloo, CPU) against ``videoattr run``."""
    from videoattr.cli import main

    folder = tmp_path / "videos"
    ids = make_videos(folder, 9, clip_len=16, size=56)  # 10 items with the corrupt one: 5 batches
    out = tmp_path / "out"
    args = ["run", "--videos-dir", str(folder), "--model", "demo", "--method", "grad*input"]
    args += ["--no-progress", "--batch-size", "2", "--num-workers", "1", "--no-gpu"]
    proc = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "videoattr",
            *args,
            "--out",
            str(out),
        ],
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    # A clip failed, so the job fails: every rank exits with 1 after all finished, and torchrun
    # reports the failed job (its own traceback); no traceback comes from videoattr.
    assert proc.returncode == 1 and "ChildFailedError" in proc.stderr, proc.stderr[-3000:]
    assert "videoattr/" not in "".join(
        line for line in proc.stderr.splitlines() if line.strip().startswith("File ")
    )
    assert f"{CORRUPT}: VideoReadError" in proc.stderr and "failures" in proc.stderr
    check_one_result_per_clip(out, ids)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun rank
    try:
        ref_args = [*args, "--out", str(tmp_path / "ref"), "--num-workers", "0"]
        assert main([*ref_args, "--allow-failures"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "10 clips: 9 done, 0 skipped, 1 failed" in capsys.readouterr().out
    store, ref = ResultStore(out), ResultStore(tmp_path / "ref")
    ranks = {}
    for clip_id in ids:
        if clip_id == CORRUPT:
            continue
        maps, meta = store.read_result(clip_id)
        ref_maps, ref_meta = ref.read_result(clip_id)
        assert maps.shape == (1, 16, 56, 56) and meta["label_is_target"]
        np.testing.assert_array_equal(maps, ref_maps)
        assert meta["target"] == ref_meta["target"] and meta["prediction"] == ref_meta["prediction"]
        ranks[meta["index"]] = meta["rank"]
    # Batch j (indices 2j, 2j + 1) was done by rank j % 2.
    assert ranks == {i: (i // 2) % 2 for i in ranks}

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"total": 10, "done": 9, "failed": 1, "missing": 0}
    last = manifest["last_run"]
    assert last["world_size"] == 2 and (last["done"], last["failed"]) == (9, 1)
    assert [r["assigned"] for r in last["ranks"]] == [6, 4]
    assert "rank 1/2 finished" in proc.stderr and "10 clips: 9 done" in proc.stdout
    assert "run finished" not in proc.stderr  # the command prints the summary, once


@pytest.mark.slow
def test_a_killed_run_resumes_without_losing_or_repeating_clips(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    ids = make_videos(folder, 11)  # 12 items: 6 batches of 2
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(folder), str(out), "--method", "grad", *SLOW_ARGS],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "results"
    deadline = time.monotonic() + 120
    try:
        while not (
            results.is_dir() and len([n for n in os.listdir(results) if n.endswith(".npz")]) >= 2
        ):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no result appeared"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = ResultStore(out)
    complete = store.complete_ids()
    assert 2 <= len(complete) < len(ids) - 1
    # A partial file under a final name (as a non-atomic copy would leave) and a stale temporary.
    victim = next(i for i in ids if i not in complete and i != CORRUPT)
    (results / f"{victim}.npz").write_bytes(b"PK\x03\x04 truncated")
    (results / f".{victim}.npz.4242.tmp").write_bytes(b"half")

    adapter = tiny_adapter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        explainer = Slow(build("grad", adapter), 0.0)
        summary = run(folder, adapter, explainer, out, batch_size=2, num_workers=0, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert summary.skipped == len(complete)
    assert summary.done == len(ids) - 1 - len(complete) and summary.failed == 1
    check_one_result_per_clip(out, ids)

    ref = reference(folder, tmp_path / "ref", "grad", batch_size=2)
    for clip_id in ids:
        if clip_id != CORRUPT:
            np.testing.assert_array_equal(
                store.read_result(clip_id)[0], ref.read_result(clip_id)[0]
            )


def test_command_line_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoattr import zoo
    from videoattr.cli import main

    folder = tmp_path / "videos"
    ids = make_videos(folder, 3)
    monkeypatch.setattr(zoo, "load", lambda name, weights=None, **kw: tiny_adapter())
    out = tmp_path / "out"
    args = ["run", "--videos-dir", str(folder), "--out", str(out), "--model", "tiny"]
    args += ["--method", "grad_cam", "--no-progress", "--batch-size", "2", "--num-workers", "0"]
    assert main(args) == 1  # a failed clip fails the run ...
    captured = capsys.readouterr()
    assert "4 clips: 3 done, 0 skipped, 1 failed" in captured.out
    assert f"{CORRUPT}: VideoReadError" in captured.err and str(out / "failures") in captured.err
    assert main([*args, "--allow-failures"]) == 0  # ... unless allowed
    assert "4 clips: 0 done, 3 skipped, 1 failed" in capsys.readouterr().out
    assert main(args) == 1  # ... and the clip that still fails fails the next run again
    assert "4 clips: 0 done, 3 skipped, 1 failed" in capsys.readouterr().out
    check_one_result_per_clip(out, ids)
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["method"] == "grad_cam" and config["model"] == "tiny"
    assert config["settings"]["layer"] == "model.2"

    assert main([*args, "--method", "grad"]) == 2  # other settings into the same folder
    assert "other settings" in capsys.readouterr().err
    assert main(["run", "--videos-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
