"""The loop one rank runs over its share of a dataset run: skip what is complete, attribute the rest
batch by batch, log the progress. (Which batches are the rank's share is
[`videoattr.runner.sharding`][videoattr.runner.sharding]'s business.)"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from torch.utils.data import DataLoader

from videoattr.runner.batches import BatchContext, process_batch
from videoattr.runner.dataset import ClipItems, collate_samples, result_mismatch
from videoattr.runner.sharding import shard_batches
from videoattr.runner.summary import RankSummary

logger = logging.getLogger("videoattr.runner")


@dataclass(frozen=True)
class RankLoop:
    """How a rank goes through its share.

    Attributes:
        batch_size: dataset items per batch (the unit ranks share out).
        num_workers: DataLoader processes decoding items.
        retry_failed: redo items that failed in an earlier run.
        progress: a progress bar.
        log_every_s: seconds between progress lines in the log.
    """

    batch_size: int
    num_workers: int
    retry_failed: bool = True
    progress: bool = True
    log_every_s: float = 30.0


def run_rank(bc: BatchContext, items: ClipItems, loop: RankLoop, *, start: float) -> RankSummary:
    """Do this rank's batches: skip complete items, attribute the rest, record failures.

    Args:
        bc: what every batch shares.
        items: the run's items.
        loop: how to go through them.
        start: when the run began (``time.perf_counter()``), for the rates in the log.

    Returns:
        ``bc.summary``, filled in.
    """
    from tqdm import tqdm

    batch_size, num_workers, retry_failed = loop.batch_size, loop.num_workers, loop.retry_failed
    progress, log_every_s = loop.progress, loop.log_every_s

    ctx, store, summary = bc.ctx, bc.store, bc.summary
    unit = bc.job.unit
    ids = items.ids
    batches = [b for _, b in shard_batches(len(ids), batch_size, ctx)]
    mine = [ids[i] for b in batches for i in b]
    summary.assigned = len(mine)
    complete = store.complete_ids(mine)
    complete -= _stale(bc, items, complete)
    for clip_id in store.failed_ids(complete):  # a crash between a result and its cleanup
        store.failure_path(clip_id).unlink(missing_ok=True)
    failed_before = set() if retry_failed else store.failed_ids(mine) - complete
    needed = {i for i in mine if i not in complete and i not in failed_before}
    summary.skipped = len(mine) - len(needed)
    pending = [b for b in batches if any(ids[i] in needed for i in b)]
    logger.info(
        "rank %d/%d on %s: %d %ss in its shard, %d to do, %d already complete%s",
        ctx.rank,
        ctx.world_size,
        bc.device,
        len(mine),
        unit,
        len(needed),
        len(complete),
        f", {len(failed_before)} failed before (not retried)" if failed_before else "",
    )
    if pending:
        loader = DataLoader(
            items,
            batch_sampler=pending,
            num_workers=num_workers,
            collate_fn=collate_samples,
            pin_memory=bc.device.type == "cuda",
        )
        bar = tqdm(
            total=len(needed),
            desc=f"rank {ctx.rank}",
            unit=unit,
            position=ctx.rank,
            disable=not progress,
            dynamic_ncols=True,
        )
        last_log = time.perf_counter()
        with bar:
            for samples in loader:
                bar.update(process_batch(samples, needed, bc))
                now = time.perf_counter()
                if now - last_log >= log_every_s:
                    last_log = now
                    _log_progress(summary, len(needed), now - start, unit)
    summary.seconds = time.perf_counter() - start
    logger.log(  # with one rank, the run's summary says the same
        logging.INFO if ctx.world_size > 1 else logging.DEBUG,
        "rank %d/%d finished: %d done, %d skipped, %d failed in %.1fs (%.2f %ss/s)",
        ctx.rank,
        ctx.world_size,
        summary.done,
        summary.skipped,
        summary.failed,
        summary.seconds,
        summary.clips_per_second,
        unit,
    )
    return summary


def _stale(bc: BatchContext, items: ClipItems, complete: set[str]) -> set[str]:
    """The complete results that are not their clip's: another clip's result under its name (files
    swapped or renamed), or made from a source that changed since; they are removed and redone."""
    index = {clip_id: i for i, clip_id in enumerate(items.ids)}
    stale = set()
    for clip_id in sorted(complete):
        source = items.sources[index[clip_id]] if items.sources is not None else None
        try:
            why = result_mismatch(clip_id, bc.store.read_meta(clip_id), source)
        except (OSError, ValueError) as err:
            why = f"its result cannot be read ({err})"
        if why is not None:  # not this clip's result: removed, so that nothing counts it done
            logger.warning("rank %d: redoing %s: %s", bc.ctx.rank, clip_id, why)
            bc.store.result_path(clip_id).unlink(missing_ok=True)
            stale.add(clip_id)
    return stale


def _log_progress(summary: RankSummary, todo: int, elapsed: float, unit: str) -> None:
    n = summary.done + summary.failed
    rate = summary.done / elapsed if elapsed > 0 else 0.0
    eta = (todo - n) / (n / elapsed) if n and elapsed > 0 else math.inf
    logger.info(
        "rank %d/%d: %d/%d %ss (%d done, %d failed), %.2f %ss/s, about %s left",
        summary.rank,
        summary.world_size,
        n,
        todo,
        unit,
        summary.done,
        summary.failed,
        rate,
        unit,
        "?" if math.isinf(eta) else f"{eta:.0f}s",
    )
