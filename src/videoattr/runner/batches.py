"""One batch of a dataset run: attribute its clips, write each result or failure."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from videoattr.pipeline import Method, explain_batch, summary_dict
from videoattr.runner.dataset import Sample, result_mismatch
from videoattr.runner.locks import ClipLocks
from videoattr.runner.sharding import DistributedContext
from videoattr.runner.store import DiskFullError, ResultStore
from videoattr.runner.summary import RankSummary
from videoattr.runner.videos import WindowSettings, explain_whole_video

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
        fixed_target: a class explained for every clip, or ``None`` (labels, else top class).
        several: several classes per clip instead: a tuple of class indices, or the ``k`` of a
            top-k request; ``None`` for one class per clip. Each result then holds maps
            ``(K, A, T, H, W)`` and ``meta["targets"]``, one record per class (the first is also
            the result's own ``target``).
        ctx: this rank's place in the run.
        summary: this rank's counts (updated in place).
        settings: what each result records besides the explanation (``model``, ``weights``,
            ``settings``).
        started: when the run began (``time.time()``): a failure recorded later by another process
            is not retried by this run.
        windows: the window settings of a whole-video run (each sample a whole video), else
            ``None``.
    """

    model: nn.Module
    method: Method
    store: ResultStore
    locks: ClipLocks
    device: torch.device
    fixed_target: int | None
    ctx: DistributedContext
    summary: RankSummary
    settings: dict[str, Any]
    started: float = 0.0
    several: tuple[int, ...] | int | None = None
    windows: WindowSettings | None = None


@dataclass
class Failure:
    """Why a clip failed: ``"ErrorType: message"`` and the formatted traceback."""

    error: str
    traceback: str

    @classmethod
    def of(cls, err: BaseException) -> Failure:
        """The failure of an exception."""
        return cls(f"{type(err).__name__}: {err}", "".join(traceback.format_exception(err)))


Outcome = tuple[np.ndarray, dict[str, Any]] | Failure


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
        groups: dict[tuple[object, ...], list[Sample]] = {}
        for s in readable:
            if s.video is not None:  # a whole video is explained on its own
                groups[("video", s.id)] = [s]
                continue
            assert s.clip is not None
            groups.setdefault(tuple(s.clip.shape), []).append(s)
        for group in groups.values():
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
        per_clip = list(zip(group, _explain(group, bc), strict=True))
    except DiskFullError:
        raise
    except Exception as err:  # recorded as the clips' failure; the run goes on
        if len(group) == 1:
            per_clip = [(group[0], Failure.of(err))]
        else:
            per_clip = []
            for s in group:
                try:
                    per_clip.append((s, _explain([s], bc)[0]))
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
        maps, meta = outcome
        meta.update(id=s.id, index=s.index, source=s.source, label=s.label, rank=bc.ctx.rank)
        if s.fingerprint is not None:
            meta["source_fingerprint"] = s.fingerprint
        bc.store.write_result(s.id, maps, meta)
        bc.summary.done += 1
    return processed


def _explain(group: list[Sample], bc: BatchContext) -> list[Outcome]:
    if group[0].video is not None:
        return [_explain_video(s, bc) for s in group]
    x = torch.stack([s.clip for s in group if s.clip is not None]).to(bc.device, non_blocking=True)
    ids = [s.id for s in group]
    per_clip = _several_targets(x, bc) if bc.several is not None else None
    rounds = len(per_clip[0]) if per_clip is not None else 1
    results = []
    for k in range(rounds):
        requested: list[int | None]
        if per_clip is not None:
            requested = [row[k] for row in per_clip]
        else:
            requested = [
                bc.fixed_target if bc.fixed_target is not None else s.target for s in group
            ]
        results.append(explain_batch(bc.model, bc.method, x, requested, names=ids, keys=ids))
    class_names = getattr(bc.model, "class_names", None)
    out: list[Outcome] = []
    for b, s in enumerate(group):
        records = [
            summary_dict(
                r[b],
                class_names,
                method=bc.method.name,
                areas=bc.method.areas,
                settings=bc.settings,
            )
            for r in results
        ]
        meta = records[0]
        meta["label_is_target"] = s.target is not None and bc.fixed_target is None and not per_clip
        if per_clip is None:
            out.append((results[0][b].maps[0].numpy(), meta))
            continue
        meta["targets"] = [
            {k: r[k] for k in ("target", "preserved_prob", "seconds")} for r in records
        ]
        meta["map_shape"] = [rounds, *meta["map_shape"]]
        out.append((torch.cat([r[b].maps for r in results]).numpy(), meta))
    return out


def _explain_video(s: Sample, bc: BatchContext) -> Outcome:
    """Explain one whole video (see `videoattr.runner.videos`)."""
    assert s.video is not None and bc.windows is not None
    targets: list[int | None] | int
    if isinstance(bc.several, int):
        targets = bc.several
    elif bc.several is not None:
        targets = list(bc.several)
    else:
        targets = [bc.fixed_target if bc.fixed_target is not None else s.target]
    maps, meta = explain_whole_video(
        bc.model,
        bc.method,
        s.video,
        targets,
        bc.windows,
        key=s.id,
        settings=bc.settings,
    )
    meta["label_is_target"] = s.target is not None and bc.fixed_target is None and not bc.several
    return maps, meta


def _several_targets(x: torch.Tensor, bc: BatchContext) -> list[list[int]]:
    """Each clip's classes: the fixed list, or its top ``k`` (best first)."""
    if isinstance(bc.several, tuple):
        return [list(bc.several) for _ in range(x.shape[0])]
    assert isinstance(bc.several, int)
    with torch.no_grad():
        logits = bc.model(x).float()
    k = min(bc.several, logits.shape[1])
    return [[int(i) for i in row] for row in logits.topk(k, dim=1).indices.tolist()]


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
    unit = "video" if bc.windows is not None else "clip"
    logger.warning("rank %d: %s %s failed: %s", bc.ctx.rank, unit, sample.id, error)
