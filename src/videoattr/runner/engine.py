"""Attribute a whole dataset: [`run`][videoattr.runner.engine.run], batched, resumable and sharded over ``torchrun`` ranks.

One call explains every clip of a folder or Dataset and writes one result file per clip. Launched as
``torchrun --nproc_per_node=N script.py`` (or ``torchrun ... -m videoattr run ...``), the same call
runs on every rank and each rank does its own shard (see [`videoattr.runner.sharding`][videoattr.runner.sharding]), on its own
GPU when there are GPUs (across nodes, the output folder must be on a file system that every node
sees). A rerun into the same output folder skips the clips whose results are complete, redoes the
others and, by default, retries the clips that failed; a clip that fails is recorded with its error
(``OUT/failures/<id>.json``) and the run goes on. At the end rank 0 writes
``OUT/manifest.json`` (every clip's status) and logs the summary: done / skipped / failed and the
throughput in clips per second.

Ranks share out whole batches, so keep ``len(data) / batch_size`` well above the number of ranks
(a dataset of 8 clips in batches of 4 keeps only two ranks busy).

Example:
    >>> from videoattr import zoo
    >>> from videoattr.runner import run
    >>> adapter = zoo.load("r2plus1d_18", weights="r2plus1d_18.pth")          # doctest: +SKIP
    >>> summary = run("kinetics/val", adapter, "grad_cam", "runs/val-gradcam",  # doctest: +SKIP
    ...               batch_size=8, num_workers=4)
    >>> summary.done, summary.skipped, summary.failed                          # doctest: +SKIP
    (19796, 0, 4)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from videoattr.core.base import Attributor
from videoattr.core.state import model_session
from videoattr.core.validation import check_positive_int, describe
from videoattr.methods.registry import Explainer, MethodOptions, build_explainer
from videoattr.pipeline import preserved_probabilities
from videoattr.runner.dataset import ClipItems, Sample, VideoFolder, collate_samples, dataset_ids
from videoattr.runner.sharding import (
    DEFAULT_SYNC_TIMEOUT_S,
    DistributedContext,
    context_from_env,
    device_for,
    gather,
    process_group,
    shard_batches,
)
from videoattr.runner.store import ResultStore, write_json

logger = logging.getLogger("videoattr.runner")

#: ``attribute(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``.
AttributeFn = Callable[[Tensor, list[int]], Tensor]
#: What [`run`][videoattr.runner.engine.run] accepts as the method.
AttributorLike = str | Explainer | Attributor | AttributeFn

# Settings that do not change a result and may differ between a run and its resumption.
_VOLATILE_SETTINGS = frozenset({"progress", "max_batch_size"})


@dataclass
class RankSummary:
    """What one rank did in one run.

    Attributes:
        rank: the rank.
        world_size: number of ranks.
        device: the device it computed on.
        assigned: clips in its shard.
        done: clips attributed and written in this run.
        skipped: clips whose results were already complete (or, with ``retry_failed=False``, that
            had failed before and were not retried).
        failed: clips that failed in this run.
        seconds: wall time of its part of the run.
        failures: ``id -> "ErrorType: message"`` for the clips that failed in this run.
    """

    rank: int
    world_size: int
    device: str
    assigned: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        """Clips attributed per second of wall time (0 when nothing was attributed)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, throughput included."""
        return {**dataclasses.asdict(self), "clips_per_second": self.clips_per_second}


@dataclass
class RunSummary:
    """The outcome of [`run`][videoattr.runner.engine.run] over all ranks (every rank gets the same summary).

    Attributes:
        out_dir: the output folder.
        total: clips in the dataset.
        done: clips attributed and written in this run.
        skipped: clips already complete (not redone).
        failed: clips that failed in this run (see [`failures`][videoattr.runner.engine.RunSummary.failures] and ``OUT/failures/``).
        seconds: wall time of the slowest rank.
        ranks: each rank's [`RankSummary`][videoattr.runner.engine.RankSummary].
        manifest: path of ``manifest.json``.
    """

    out_dir: Path
    total: int
    done: int
    skipped: int
    failed: int
    seconds: float
    ranks: list[RankSummary]
    manifest: Path

    @property
    def clips_per_second(self) -> float:
        """Overall throughput: clips attributed by all ranks per second of the slowest rank."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def failures(self) -> dict[str, str]:
        """``id -> "ErrorType: message"`` of every clip that failed in this run."""
        return {k: v for r in self.ranks for k, v in r.failures.items()}

    def __str__(self) -> str:
        return (
            f"{self.total} clips: {self.done} done, {self.skipped} skipped, {self.failed} failed "
            f"in {self.seconds:.1f}s ({self.clips_per_second:.2f} clips/s over "
            f"{len(self.ranks)} rank{'s' if len(self.ranks) > 1 else ''})"
        )


@dataclass
class _Method:
    """The method of a run, reduced to what the runner needs."""

    name: str
    fn: AttributeFn
    settings: dict[str, Any]
    explainer: Explainer | None = None
    areas: tuple[float, ...] = ()


def run(
    data: Dataset[Any] | Sequence[Any] | str | Path,
    model: nn.Module,
    attributor: AttributorLike,
    out_dir: str | Path,
    *,
    options: MethodOptions | None = None,
    batch_size: int = 4,
    num_workers: int = 2,
    target: int | str | None = None,
    device: str | torch.device | None = None,
    retry_failed: bool = True,
    progress: bool = True,
    log_every_s: float = 30.0,
    sync_timeout_s: float = DEFAULT_SYNC_TIMEOUT_S,
    settings: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Attribute every clip of ``data`` and write one result file per clip under ``out_dir``.

    Run it in one process, or on every rank of ``torchrun --nproc_per_node=N`` (or across nodes):
    each rank then takes its own shard of batches, on ``cuda:<LOCAL_RANK>`` when there are GPUs, and
    the summary is gathered over a ``gloo`` process group at the end.

    Each result ``OUT/results/<id>.npz`` holds ``maps``, the float16 ``(A, T, H, W)`` attribution
    maps (``A = 1`` for gradient methods, one channel per area for perturbation methods), and
    ``meta``, JSON text with the clip's id, source, label, the prediction and the explained class with
    their probabilities, the preserved probability per area (perturbation methods), the time and the
    settings. Read them with `ResultStore.read_result`.

    Args:
        data: a folder of videos and frame folders (read with ``model``'s frame sampling and
            preprocessing, see [`VideoFolder`][videoattr.runner.VideoFolder]), or a map-style Dataset (or a
            list) of ``(clip (C, T, H, W), target_or_label[, id or extra])`` items (see
            [`videoattr.runner.dataset`][videoattr.runner.dataset]).
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits; a zoo adapter for a folder. It
            is moved to the run's device and put in eval mode; its flags are restored at the end.
        attributor: a method name (``"grad"``, ``"grad_cam"``, ``"step"``, ...: see
            `METHOD_NAMES`) built with ``options``, an
            [`Explainer`][videoattr.methods.registry.Explainer], an
            [`Attributor`][videoattr.core.base.Attributor], or a callable
            ``(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``.
        out_dir: the output folder (see [`videoattr.runner.store`][videoattr.runner.store] for its layout).
        options: options for a method given by name. Default: the method's defaults with the
            adapter's Grad-CAM layer, reshape, mean and std, and no inner progress bar.
        batch_size: clips per attribution call (and per DataLoader batch). Default 4.
        num_workers: DataLoader worker processes decoding clips while the model computes; 0 decodes
            in the main process. Default 2.
        target: ``None`` (default) explains the item's label when it is a class (an int, or a name
            among ``model.class_names``) and else the model's top class; an int or a class name
            explains that class for every clip.
        device: where to compute; ``None`` picks ``cuda:<LOCAL_RANK>`` if CUDA is available, else the
            CPU (``"cuda"`` without an index also means the rank's GPU).
        retry_failed: redo clips that failed in an earlier run. Default ``True``.
        progress: a tqdm progress bar per rank. Default ``True``.
        log_every_s: seconds between progress lines in the log (logger ``videoattr.runner``).
            Default 30.
        sync_timeout_s: how long a rank that finished waits for the others at the end. Default two
            days.
        settings: extra values recorded with the run's settings (e.g. the model's name and weights).

    Returns:
        The [`RunSummary`][videoattr.runner.engine.RunSummary] over all ranks.

    Raises:
        ValueError: ``out_dir`` holds results made with other settings, an unknown ``target`` name,
            or an invalid ``batch_size``/``num_workers``/dataset ids.
        TypeError: an unsupported ``attributor``, or a folder with a model that is not an adapter.
    """
    start = time.perf_counter()
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative int; got {num_workers!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
    _ensure_log_handler()
    ctx = context_from_env()
    dev = device_for(device, ctx)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    model.to(dev)

    dataset: Any = VideoFolder.for_model(data, model) if isinstance(data, (str, Path)) else data
    ids = dataset_ids(dataset)
    class_names = getattr(model, "class_names", None)
    fixed_target = _fixed_target(target, class_names)
    method = _resolve_method(attributor, model, options)
    store = ResultStore(out_dir)
    config = {
        "method": method.name,
        "areas": list(method.areas),
        "model": str(getattr(model, "name", type(model).__name__)),
        "target": target,
        "settings": method.settings,
        **(dict(settings) if settings else {}),
    }
    _check_settings(store, config, num_items=len(ids))

    with process_group(ctx, sync_timeout_s) as active, model_session(model, eval_mode=True):
        mine = _run_shard(
            ctx=ctx,
            dev=dev,
            model=model,
            method=method,
            items=ClipItems(dataset, ids, class_names),
            store=store,
            batch_size=batch_size,
            num_workers=num_workers,
            fixed_target=fixed_target,
            retry_failed=retry_failed,
            progress=progress,
            log_every_s=log_every_s,
            start=start,
        )
        write_json(store.root / "ranks" / f"rank{ctx.rank}.json", mine.as_dict())
        ranks = gather(mine, ctx, active)
        summary = RunSummary(
            out_dir=store.root,
            total=len(ids),
            done=sum(r.done for r in ranks),
            skipped=sum(r.skipped for r in ranks),
            failed=sum(r.failed for r in ranks),
            seconds=max(r.seconds for r in ranks),
            ranks=ranks,
            manifest=store.root / "manifest.json",
        )
        if ctx.is_main:
            write_manifest(store, ids, getattr(dataset, "sources", None), config, summary)
            logger.info("run finished: %s; manifest %s", summary, summary.manifest)
            if summary.failed:
                logger.warning(
                    "%d clip(s) failed; their errors are in %s",
                    summary.failed,
                    store.failures_dir,
                )
        gather(None, ctx, active)  # every rank returns once the manifest exists
    return summary


def _ensure_log_handler() -> None:
    """Show the runner's INFO lines on stderr unless the application configured logging itself."""
    if not logger.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[videoattr %(asctime)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _fixed_target(target: int | str | None, class_names: Sequence[str] | None) -> int | None:
    from videoattr.cli import class_index

    if target is None:
        return None
    if isinstance(target, int) and not isinstance(target, bool):
        if target < 0:
            raise ValueError(f"target must be a class index >= 0; got {target}")
        return target
    if isinstance(target, str):
        index = class_index(target, class_names)
        if index is None:
            raise ValueError(
                f"target {target!r} is neither a class index nor one of the model's class names "
                f"{list(class_names) if class_names else '(the model has none)'}"
            )
        return index
    raise TypeError(f"target must be None, a class index or a class name; got {describe(target)}")


def _plain_settings(obj: Any) -> dict[str, Any]:
    from videoattr.pipeline import settings_dict

    return {k: v for k, v in settings_dict(obj).items() if k not in _VOLATILE_SETTINGS}


def _resolve_method(
    attributor: AttributorLike, model: nn.Module, options: MethodOptions | None
) -> _Method:
    if isinstance(attributor, str):
        if options is None:
            options = MethodOptions(
                layer=getattr(model, "layer", None),
                reshape=getattr(model, "reshape", None),
                mean=getattr(model, "mean", None),
                std=getattr(model, "std", None),
                progress=False,
            )
        attributor = build_explainer(attributor, model, options)
    elif options is not None:
        raise TypeError("options apply to a method given by name; the attributor is already built")
    if isinstance(attributor, Explainer):
        explainer = attributor
        return _Method(
            name=explainer.name,
            fn=lambda x, t: explainer(x, t),
            settings={"class": type(explainer.attributor).__name__}
            | _plain_settings(explainer.attributor),
            explainer=explainer,
            areas=explainer.areas,
        )
    if isinstance(attributor, Attributor):
        att = attributor
        return _Method(
            name=type(att).__name__,
            fn=lambda x, t: att.attribute(x, t),
            settings={"class": type(att).__name__} | _plain_settings(att),
        )
    if callable(attributor):
        name = str(getattr(attributor, "__name__", type(attributor).__name__))
        return _Method(name=name, fn=attributor, settings={"callable": name})
    raise TypeError(
        "attributor must be a method name, an Explainer, an Attributor or a callable "
        f"(x, targets) -> maps; got {describe(attributor)}"
    )


def _check_settings(store: ResultStore, config: dict[str, Any], *, num_items: int) -> None:
    """Refuse to mix results of different settings in one folder; record the settings otherwise."""
    path = store.root / "run.json"
    canonical = json.loads(json.dumps(config, default=str))
    if path.is_file():
        previous = json.loads(path.read_text()).get("config", {})
        if previous != canonical:
            keys = sorted(
                k for k in set(previous) | set(canonical) if previous.get(k) != canonical.get(k)
            )
            raise ValueError(
                f"out_dir {store.root} holds results made with other settings (differing: "
                f"{', '.join(keys)}); choose a new out_dir, or delete {path} to mix them"
            )
        return
    write_json(path, {"config": canonical, "num_items": num_items})


def _run_shard(
    *,
    ctx: DistributedContext,
    dev: torch.device,
    model: nn.Module,
    method: _Method,
    items: ClipItems,
    store: ResultStore,
    batch_size: int,
    num_workers: int,
    fixed_target: int | None,
    retry_failed: bool,
    progress: bool,
    log_every_s: float,
    start: float,
) -> RankSummary:
    """Do this rank's batches: skip complete clips, attribute the rest, record failures."""
    from tqdm import tqdm

    summary = RankSummary(rank=ctx.rank, world_size=ctx.world_size, device=str(dev))
    ids = items.ids
    batches = [b for _, b in shard_batches(len(ids), batch_size, ctx)]
    mine = [ids[i] for b in batches for i in b]
    summary.assigned = len(mine)
    store.remove_temporary(mine)
    complete = store.complete_ids(mine)
    for clip_id in store.failed_ids(complete):  # a crash between a result and its cleanup
        store.failure_path(clip_id).unlink(missing_ok=True)
    failed_before = set() if retry_failed else store.failed_ids(mine) - complete
    needed = {i for i in mine if i not in complete and i not in failed_before}
    summary.skipped = len(mine) - len(needed)
    pending = [b for b in batches if any(ids[i] in needed for i in b)]
    logger.info(
        "rank %d/%d on %s: %d clips in its shard, %d to do, %d already complete%s",
        ctx.rank,
        ctx.world_size,
        dev,
        len(mine),
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
            pin_memory=dev.type == "cuda",
        )
        bar = tqdm(
            total=len(needed),
            desc=f"rank {ctx.rank}",
            unit="clip",
            position=ctx.rank,
            disable=not progress,
            dynamic_ncols=True,
        )
        last_log = time.perf_counter()
        with bar:
            for samples in loader:
                processed = _process_batch(
                    samples, needed, model, method, store, dev, fixed_target, ctx, summary
                )
                bar.update(processed)
                now = time.perf_counter()
                if now - last_log >= log_every_s:
                    last_log = now
                    _log_progress(summary, len(needed), now - start)
    summary.seconds = time.perf_counter() - start
    logger.info(
        "rank %d/%d finished: %d done, %d skipped, %d failed in %.1fs (%.2f clips/s)",
        ctx.rank,
        ctx.world_size,
        summary.done,
        summary.skipped,
        summary.failed,
        summary.seconds,
        summary.clips_per_second,
    )
    return summary


def _log_progress(summary: RankSummary, todo: int, elapsed: float) -> None:
    n = summary.done + summary.failed
    rate = summary.done / elapsed if elapsed > 0 else 0.0
    eta = (todo - n) / (n / elapsed) if n and elapsed > 0 else math.inf
    logger.info(
        "rank %d/%d: %d/%d clips (%d done, %d failed), %.2f clips/s, about %s left",
        summary.rank,
        summary.world_size,
        n,
        todo,
        summary.done,
        summary.failed,
        rate,
        "?" if math.isinf(eta) else f"{eta:.0f}s",
    )


def _process_batch(
    samples: list[Sample],
    needed: set[str],
    model: nn.Module,
    method: _Method,
    store: ResultStore,
    dev: torch.device,
    fixed_target: int | None,
    ctx: DistributedContext,
    summary: RankSummary,
) -> int:
    """Attribute one batch and write the results of the clips still needed; returns how many."""

    def fail(sample: Sample, error: str, trace: str | None) -> None:
        store.write_failure(
            sample.id,
            {
                "id": sample.id,
                "index": sample.index,
                "source": sample.source,
                "error": error,
                "traceback": trace,
                "rank": ctx.rank,
            },
        )
        summary.failed += 1
        summary.failures[sample.id] = error
        logger.warning("rank %d: clip %s failed: %s", ctx.rank, sample.id, error)

    processed = 0
    readable: list[Sample] = []
    for s in samples:
        if s.error is None:
            readable.append(s)
        elif s.id in needed:
            fail(s, s.error, s.traceback)
            processed += 1
    if not any(s.id in needed for s in readable):
        return processed
    # The whole batch is computed even when some of its clips are complete, so that a clip's
    # result never depends on which of its batch mates a crash left undone.
    groups: dict[tuple[int, ...], list[Sample]] = {}
    for s in readable:
        assert s.clip is not None
        groups.setdefault(tuple(s.clip.shape), []).append(s)
    for group in groups.values():
        try:
            results: list[_Result | _Failure] = list(
                _attribute(group, model, method, dev, fixed_target)
            )
        except Exception as err:
            if len(group) == 1:
                results = [_Failure.of(err)]
            else:  # find the clip at fault: one call per clip
                results = []
                for s in group:
                    try:
                        results.extend(_attribute([s], model, method, dev, fixed_target))
                    except Exception as single_err:
                        results.append(_Failure.of(single_err))
        for s, result in zip(group, results, strict=True):
            if s.id not in needed:
                continue
            processed += 1
            if isinstance(result, _Failure):
                fail(s, result.error, result.traceback)
                continue
            result.meta.update(
                id=s.id,
                index=s.index,
                source=s.source,
                label=s.label,
                rank=ctx.rank,
            )
            store.write_result(s.id, result.maps, result.meta)
            summary.done += 1
    return processed


@dataclass
class _Result:
    maps: np.ndarray  # (A, T, H, W) float16
    meta: dict[str, Any]


@dataclass
class _Failure:
    error: str
    traceback: str

    @classmethod
    def of(cls, err: BaseException) -> _Failure:
        return cls(f"{type(err).__name__}: {err}", "".join(traceback.format_exception(err)))


def _attribute(
    group: list[Sample],
    model: nn.Module,
    method: _Method,
    dev: torch.device,
    fixed_target: int | None,
) -> list[_Result]:
    """Attribute clips of one shape in one call; returns the maps ``(A, T, H, W)`` and meta per clip."""
    from videoattr.pipeline import ClipExplanation, summary_dict

    x = torch.stack([s.clip for s in group if s.clip is not None]).to(dev, non_blocking=True)
    with torch.no_grad():
        probs = torch.softmax(model(x).float(), dim=1)
    num_classes = probs.shape[1]
    prediction = probs.argmax(dim=1).tolist()
    targets: list[int] = []
    for s, p in zip(group, prediction, strict=True):
        t = fixed_target if fixed_target is not None else s.target if s.target is not None else p
        if not 0 <= t < num_classes:
            raise ValueError(
                f"target class {t} of clip {s.id} is outside the model's {num_classes} classes"
            )
        targets.append(t)
    start = time.perf_counter()
    maps = method.fn(x, targets)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    if not isinstance(maps, Tensor) or maps.dim() != 5 or maps.shape[0] != len(group):
        raise ValueError(
            f"the attributor must return (B, A, T, H, W) maps with B = {len(group)}; got "
            f"{describe(maps)}"
        )
    preserved = (
        preserved_probabilities(method.explainer, model, x, maps, targets)
        if method.explainer is not None
        else []
    )
    maps_cpu = maps.detach().to("cpu", torch.float32)
    class_names = getattr(model, "class_names", None)
    out = []
    for b, s in enumerate(group):
        explanation = ClipExplanation(
            maps=maps_cpu[b : b + 1],
            prediction=prediction[b],
            prediction_prob=float(probs[b, prediction[b]]),
            target=targets[b],
            target_prob=float(probs[b, targets[b]]),
            preserved_prob=preserved[b] if preserved else [],
            seconds=seconds / len(group),
        )
        meta = summary_dict(
            explanation,
            class_names,
            method=method.name,
            areas=method.areas,
            settings=method.settings,
        )
        maps_b = maps_cpu[b].numpy().astype(np.float16)
        meta["map_shape"] = list(maps_b.shape)
        meta["batch_size"] = len(group)
        meta["label_is_target"] = s.target is not None and fixed_target is None
        out.append(_Result(maps_b, meta))
    return out


def write_manifest(
    store: ResultStore,
    ids: Sequence[str],
    sources: Sequence[Any] | None,
    config: Mapping[str, Any],
    summary: RunSummary | None = None,
) -> Path:
    """Write ``OUT/manifest.json``: every clip's status rebuilt from the files on disk.

    A clip is ``"done"`` when its result is complete, ``"failed"`` when it has a failure record and
    no result, else ``"missing"``. ``summary`` (the run that just ended) is recorded too.

    Returns:
        The manifest's path.
    """
    complete = store.complete_ids(ids)
    failed = store.failed_ids(ids) - complete
    clips: list[dict[str, Any]] = []
    for index, clip_id in enumerate(ids):
        entry: dict[str, Any] = {"id": clip_id, "index": index}
        if sources is not None:
            entry["source"] = str(sources[index])
        if clip_id in complete:
            entry["status"] = "done"
            entry["file"] = str(store.result_path(clip_id).relative_to(store.root))
        elif clip_id in failed:
            entry["status"] = "failed"
            try:
                entry["error"] = store.read_failure(clip_id).get("error")
            except (OSError, ValueError):
                entry["error"] = None
        else:
            entry["status"] = "missing"
        clips.append(entry)
    counts = {
        "total": len(ids),
        "done": len(complete),
        "failed": len(failed),
        "missing": len(ids) - len(complete) - len(failed),
    }
    manifest: dict[str, Any] = {"config": dict(config), "counts": counts}
    if summary is not None:
        manifest["last_run"] = {
            "done": summary.done,
            "skipped": summary.skipped,
            "failed": summary.failed,
            "seconds": summary.seconds,
            "clips_per_second": summary.clips_per_second,
            "world_size": len(summary.ranks),
            "ranks": [r.as_dict() for r in summary.ranks],
        }
    manifest["clips"] = clips
    return write_json(store.root / "manifest.json", json.loads(json.dumps(manifest, default=str)))
