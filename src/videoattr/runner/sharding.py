"""Which rank does which clips, and the little synchronisation a dataset run needs.

``torchrun`` (and any launcher that follows its conventions) tells every process its place through
the environment: ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. [`context_from_env`][videoattr.runner.sharding.context_from_env] reads them; a
plain ``python`` process is rank 0 of 1.

Sharding is by batch, not by clip: the dataset's indices ``0..N-1`` are cut into global batches of
``batch_size`` consecutive indices, and batch ``j`` belongs to rank ``j % world_size``. Every index
lies in exactly one batch and every batch on exactly one rank, so no clip is done twice or skipped,
and the clips that share a batch are the same whatever the number of processes: a result does not
depend on how many ranks computed the dataset, even for methods whose random draws depend on a
clip's position in its batch.

Ranks never talk to each other while they work. A process group (``gloo``: only small Python objects
travel, so it serves CPU and GPU runs alike) is opened only when ``WORLD_SIZE > 1``, to gather the
per-rank summaries at the end; its timeout bounds how long a rank that finished early waits for the
others.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch.distributed as dist

from videoattr.core.validation import check_positive_int

T = TypeVar("T")

#: Default time a rank waits for the others at the end of a run: two days.
DEFAULT_SYNC_TIMEOUT_S = 48 * 3600.0


@dataclass(frozen=True)
class DistributedContext:
    """The place of this process in a (possibly one-process) run.

    Attributes:
        rank: global rank in ``[0, world_size)``.
        world_size: number of processes.
        local_rank: rank on this node (picks the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"rank must lie in [0, world_size) with world_size >= 1; got rank={self.rank}, "
                f"world_size={self.world_size}"
            )
        if self.local_rank < 0:
            raise ValueError(f"local_rank must be >= 0; got {self.local_rank}")

    @property
    def is_distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes the manifest)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer; got {value!r}") from None


def context_from_env() -> DistributedContext:
    """The rank, world size and local rank that ``torchrun`` put in the environment.

    Missing variables mean a single process: rank 0 of 1.

    Raises:
        ValueError: a variable is not an integer or the values are inconsistent.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    return DistributedContext(rank=rank, world_size=world, local_rank=_env_int("LOCAL_RANK", rank))


def global_batches(num_items: int, batch_size: int) -> list[list[int]]:
    """Cut ``range(num_items)`` into consecutive batches of at most ``batch_size`` indices.

    Example:
        >>> global_batches(5, 2)
        [[0, 1], [2, 3], [4]]
    """
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 0:
        raise ValueError(f"num_items must be a non-negative int; got {num_items!r}")
    bs = check_positive_int(batch_size, "batch_size")
    return [list(range(s, min(s + bs, num_items))) for s in range(0, num_items, bs)]


def shard_batches(
    num_items: int, batch_size: int, ctx: DistributedContext
) -> list[tuple[int, list[int]]]:
    """The global batches of rank ``ctx.rank``: batch ``j`` goes to rank ``j % world_size``.

    Returns:
        ``(j, indices)`` for every batch ``j`` of this rank, in order.

    Example:
        >>> shard_batches(7, 2, DistributedContext(rank=1, world_size=2))
        [(1, [2, 3]), (3, [6])]
    """
    batches = global_batches(num_items, batch_size)
    return [(j, b) for j, b in enumerate(batches) if j % ctx.world_size == ctx.rank]


@contextmanager
def process_group(
    ctx: DistributedContext, timeout_s: float = DEFAULT_SYNC_TIMEOUT_S
) -> Iterator[bool]:
    """Open a ``gloo`` process group for a multi-process run, and close it on exit.

    A group that the caller already initialised is used as it is and left open. Yields whether a
    group is available (``False`` for a single process).

    Raises:
        RuntimeError: an initialised group disagrees with the environment's rank or world size.
    """
    if not ctx.is_distributed or not dist.is_available():
        yield False
        return
    if dist.is_initialized():
        if dist.get_world_size() != ctx.world_size or dist.get_rank() != ctx.rank:
            raise RuntimeError(
                f"the initialised process group (rank {dist.get_rank()} of {dist.get_world_size()}) "
                f"disagrees with RANK={ctx.rank}, WORLD_SIZE={ctx.world_size}"
            )
        yield True
        return
    dist.init_process_group(
        backend="gloo",
        timeout=datetime.timedelta(seconds=timeout_s),
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    try:
        yield True
    finally:
        dist.destroy_process_group()


def gather(obj: T, ctx: DistributedContext, active: bool) -> list[T]:
    """Every rank's ``obj`` (a picklable value), in rank order; ``[obj]`` without a process group."""
    if not active:
        return [obj]
    out: list[T | None] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return [o for o in out if o is not None]
