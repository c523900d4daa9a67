"""Attribute whole datasets: batched, resumable, and sharded over ``torchrun`` ranks.

[`run`][videoattr.runner.run] is the entry point (``videoattr run`` on the command line);
[`ResultStore`][videoattr.runner.ResultStore] reads the results it writes;
[`VideoFolder`][videoattr.datasets.folders.VideoFolder] is the folder dataset it reads.

Example:
    >>> from videoattr.runner import run, ResultStore
    >>> summary = run("videos/", adapter, "grad_cam", "out/")      # doctest: +SKIP
    >>> maps, meta = ResultStore("out/").read_result("right-000")  # doctest: +SKIP
"""

from videoattr.datasets.folders import VideoFolder
from videoattr.runner.dataset import ClipItems, Sample, dataset_ids
from videoattr.runner.engine import run
from videoattr.runner.locks import ClipLocks
from videoattr.runner.manifest import write_manifest
from videoattr.runner.sharding import (
    DistributedContext,
    context_from_env,
    global_batches,
    shard_batches,
)
from videoattr.runner.store import DiskFullError, ResultStore, check_id
from videoattr.runner.summary import RankSummary, RunSummary

__all__ = [
    "ClipItems",
    "ClipLocks",
    "DiskFullError",
    "DistributedContext",
    "RankSummary",
    "ResultStore",
    "RunSummary",
    "Sample",
    "VideoFolder",
    "check_id",
    "context_from_env",
    "dataset_ids",
    "global_batches",
    "run",
    "shard_batches",
    "write_manifest",
]
