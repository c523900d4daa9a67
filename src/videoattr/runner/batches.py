"""One batch of a dataset run: attribute its clips, write each result or failure."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from videoattr.core.targets import TargetRequest
from videoattr.pipeline import Method
from videoattr.runner.dataset import Sample, result_mismatch
from videoattr.runner.jobs import ClipJob, Result, VideoJob
from videoattr.runner.locks import ClipLocks
from videoattr.runner.sharding import DistributedContext
from videoattr.runner.store import DiskFullError, ResultStore
from videoattr.runner.summary import RankSummary

logger = logging.getLogger("videoattr.runner")


@dataclass
class BatchContext:
    """What every batch of one rank shares.

    Attributes:
        model: the classifier, on ``device``.
        method: the method.
        store: the output folder's files.
        locks: the per-clip locks of this run.
        device: where clips are attributed.
        request: the classes asked for (see [`TargetRequest`][videoattr.core.targets.TargetRequest]):
            with several per clip each result holds maps ``(K, A, T, H, W)`` and
            ``meta["targets"]``, one record per class (the first is also the result's own
            ``target``).
        ctx: this rank's place in the run.
        summary: this rank's counts (updated in place).
        settings: what each result records besides the explanation (``model``, ``weights``,
            ``settings``).
        started: when the run began (``time.time()``): a failure recorded later by another process
            is not retried by this run.
        job: what each item is (a clip, a whole video) and how it is explained and recorded
            (see [`videoattr.runner.jobs`][videoattr.runner.jobs]).
    """

    model: nn.Module
    method: Method
    store: ResultStore
    locks: ClipLocks
    device: torch.device
    request: TargetRequest
    ctx: DistributedContext
    summary: RankSummary
    settings: dict[str, Any]
    job: ClipJob | VideoJob = field(default_factory=ClipJob)
    started: float = 0.0


@dataclass
class Failure:
    """Why a clip failed: ``"ErrorType: message"`` and the formatted traceback."""

    error: str
    traceback: str

    @classmethod
    def of(cls, err: BaseException) -> Failure:
        """The failure of an exception."""
        return cls(f"{type(err).__name__}: {err}", "".join(traceback.format_exception(err)))


Outcome = Result | Failure


def process_batch(samples: list[Sample], needed: set[str], bc: BatchContext) -> int:
    """Attribute one batch and write the results of the clips still needed; returns how many.

    A clip is written only while this process holds its lock; a clip another live process holds is
    counted as ``busy`` and left to it. The whole batch is computed even when some of its clips
    are not needed, so that a clip's result never depends on which of its batch mates are done.

    Raises:
        DiskFullError: the output folder's device is full (what is written stays).
    """
    mine: set[str] = set()
    processed = 0
    for s in samples:
        if s.id not in needed:
            continue
        if not bc.locks.acquire(s.id):
            bc.summary.busy += 1
            processed += 1
            continue
        if _done_meanwhile(bc, s):
            bc.locks.release(s.id)
            bc.summary.skipped += 1
            processed += 1
            continue
        bc.store.remove_temporary([s.id])
        mine.add(s.id)
    try:
        for s in samples:
            if s.error is not None and s.id in mine:
                _fail(bc, s, s.error, s.traceback)
                processed += 1
        readable = [s for s in samples if s.error is None]
        if not any(s.id in mine for s in readable):
            return processed
        for group in bc.job.groups(readable):
            processed += _process_group(group, mine, bc)
        return processed
    finally:
        for clip_id in mine:
            bc.locks.release(clip_id)


def _done_meanwhile(bc: BatchContext, sample: Sample) -> bool:
    """Whether another process finished the clip (a result of this clip and source as they are, or
    a failure) since this run began."""
    clip_id = sample.id
    if bc.store.is_valid_result(bc.store.result_path(clip_id)):
        try:
            meta = bc.store.read_meta(clip_id)
        except (OSError, ValueError):
            return False
        return result_mismatch(clip_id, meta, sample.source) is None
    try:
        return bc.store.failure_path(clip_id).stat().st_mtime >= bc.started
    except FileNotFoundError:
        return False


def _process_group(group: list[Sample], mine: set[str], bc: BatchContext) -> int:
    """Attribute clips of one shape together; if that fails, one by one to find the clip at fault."""
    per_clip: list[tuple[Sample, Outcome]]
    try:
        per_clip = list(zip(group, bc.job.explain(group, bc), strict=True))
    except DiskFullError:
        raise
    except Exception as err:  # recorded as the clips' failure; the run goes on
        if len(group) == 1:
            per_clip = [(group[0], Failure.of(err))]
        else:
            per_clip = []
            for s in group:
                try:
                    per_clip.append((s, bc.job.explain([s], bc)[0]))
                except DiskFullError:
                    raise
                except Exception as single_err:  # this clip's failure
                    per_clip.append((s, Failure.of(single_err)))
    processed = 0
    for s, outcome in per_clip:
        if s.id not in mine:
            continue
        processed += 1
        if isinstance(outcome, Failure):
            _fail(bc, s, outcome.error, outcome.traceback)
            continue
        maps, record = outcome
        run_fields = dict(id=s.id, index=s.index, source=s.source, label=s.label, rank=bc.ctx.rank)
        record.extra.update(run_fields)
        if s.fingerprint is not None:
            record.extra["source_fingerprint"] = s.fingerprint
        bc.store.write_result(s.id, maps, record.to_meta())
        bc.summary.done += 1
    return processed


def _fail(bc: BatchContext, sample: Sample, error: str, trace: str | None) -> None:
    bc.store.write_failure(
        sample.id,
        {
            "id": sample.id,
            "index": sample.index,
            "source": sample.source,
            "error": error,
            "traceback": trace,
            "rank": bc.ctx.rank,
        },
    )
    bc.summary.failed += 1
    bc.summary.failures[sample.id] = error
    logger.warning("rank %d: %s %s failed: %s", bc.ctx.rank, bc.job.unit, sample.id, error)
