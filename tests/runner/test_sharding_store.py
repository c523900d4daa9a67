"""Sharding by batch, the rank's environment, and the result files' atomicity and completeness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from videoattr.core.devices import resolve_device
from videoattr.runner import (
    DistributedContext,
    ResultStore,
    check_id,
    context_from_env,
    dataset_ids,
    global_batches,
    shard_batches,
)
from videoattr.runner.store import maps_checksum


@given(n=st.integers(0, 60), batch_size=st.integers(1, 7), world=st.integers(1, 6))
def test_every_index_is_in_exactly_one_shard(n: int, batch_size: int, world: int) -> None:
    shards = [shard_batches(n, batch_size, DistributedContext(r, world)) for r in range(world)]
    indices = [i for shard in shards for _, batch in shard for i in batch]
    assert sorted(indices) == list(range(n))  # none skipped, none twice
    # The batches themselves do not depend on the number of ranks.
    batches = sorted((j, b) for shard in shards for j, b in shard)
    assert [b for _, b in batches] == global_batches(n, batch_size)
    assert all(j % world == r for r, shard in enumerate(shards) for j, _ in shard)


def test_global_batches_are_consecutive_and_bounded() -> None:
    assert global_batches(7, 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert global_batches(0, 3) == []
    with pytest.raises(ValueError, match="batch_size"):
        global_batches(4, 0)


def test_context_from_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert context_from_env() == DistributedContext(0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = context_from_env()
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_distributed, ctx.is_main) == (
        3,
        4,
        1,
        True,
        False,
    )
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match=r"rank must lie in \[0, world_size\)"):
        context_from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK must be an integer"):
        context_from_env()


def test_device_of_a_rank() -> None:
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    if torch.cuda.is_available():
        expected = torch.device("cuda", 1 % torch.cuda.device_count())
        assert resolve_device(None, local_rank=1) == expected
        assert resolve_device("cuda", local_rank=1) == expected
        assert resolve_device("cuda:0", local_rank=1) == torch.device("cuda", 0)  # index kept
    else:
        assert resolve_device(None, local_rank=1) == torch.device("cpu")


def test_result_round_trip_and_failure_record_replaced(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    maps = np.random.default_rng(0).random((2, 3, 4, 5)).astype(np.float32)
    store.write_failure("clip", {"error": "OSError: flaky disk"})
    assert store.failed_ids() == {"clip"}
    store.write_result("clip", maps, {"target": {"index": 3}})
    back, meta = store.read_result("clip")
    assert back.dtype == np.float32 and back.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(back, maps)
    assert meta == {"target": {"index": 3}, "checksum": maps_checksum(maps)}
    assert store.failed_ids() == set() and store.complete_ids() == {"clip"}
    assert os.listdir(tmp_path / "results") == ["clip.npz"]  # no temporary left behind


def test_only_whole_archives_count_as_complete(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for clip_id in ("a", "b", "c"):
        store.write_result(clip_id, np.zeros((1, 2, 2, 2)), {})
    full = store.result_path("a").read_bytes()
    store.result_path("b").write_bytes(full[: len(full) // 2])  # truncated
    np.savez(store.result_path("c"), maps=np.zeros(1))  # a zip without the metadata
    (tmp_path / "results" / ".d.npz.123.tmp").write_bytes(full)  # a temporary, never final
    assert store.complete_ids() == {"a"}
    assert store.complete_ids(["b", "c"]) == set()


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_files_are_removed_only_for_the_given_ids_of_dead_writers(
    tmp_path: Path,
) -> None:
    store = ResultStore(tmp_path)
    store.results_dir.mkdir(parents=True)
    store.failures_dir.mkdir(parents=True)
    dead = dead_pid()
    mine = [
        tmp_path / "results" / f".x.npz.{dead}.tmp",
        tmp_path / "failures" / f".x.json.{dead}.tmp",
    ]
    theirs = tmp_path / "results" / f".y.npz.{dead}.tmp"
    # A temporary of the same clip whose writer (our parent process) is alive: never removed.
    alive = tmp_path / "results" / f".x.npz.{os.getppid()}.tmp"
    for p in [*mine, theirs, alive]:
        p.write_bytes(b"partial")
    assert store.remove_temporary(["x"]) == 2
    assert not any(p.exists() for p in mine) and theirs.exists() and alive.exists()


@pytest.mark.parametrize("bad", ["", ".hidden", "a/b", "a\\b", "x" * 201])
def test_ids_must_be_plain_file_names(bad: str) -> None:
    with pytest.raises(ValueError, match="clip id"):
        check_id(bad)


def test_dataset_ids() -> None:
    class Plain(torch.utils.data.Dataset[int]):
        def __len__(self) -> int:
            return 3

    class Named(Plain):
        def __init__(self) -> None:
            self.ids = ["a", "b", "a"]

    assert dataset_ids(Plain()) == ["000000", "000001", "000002"]
    with pytest.raises(ValueError, match=r"unique; repeated: \['a'\]"):
        dataset_ids(Named())


def test_failure_record_is_json(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.write_failure("v", {"error": "VideoReadError: bad", "traceback": "..."})
    assert json.loads(path.read_text())["error"] == "VideoReadError: bad"
    assert store.read_failure("v")["traceback"] == "..."
