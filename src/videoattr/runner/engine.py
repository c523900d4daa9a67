"""Attribute a whole dataset: [`run`][videoattr.runner.engine.run], batched, resumable and sharded over ``torchrun`` ranks.

One call explains every clip of a folder or Dataset and writes one result file per clip. Launched as
``torchrun --nproc_per_node=N script.py`` (or ``torchrun ... -m videoattr run ...``), the same call
runs on every rank and each rank does its own shard (see [`videoattr.runner.sharding`][videoattr.runner.sharding]), on its own
GPU when there are GPUs (across nodes, the output folder must be on a file system that every node
sees). A rerun into the same output folder skips the clips whose results are complete, redoes the
others and, by default, retries the clips that failed; a clip that fails is recorded with its error
(``OUT/failures/<id>.json``) and the run goes on. At the end, once every rank has finished, rank 0
writes ``OUT/manifest.json`` (every clip's status) and logs the summary: done / skipped / failed and
the throughput in clips per second.

The parts: `guard` (``run.json`` and the resume guard), [`jobs`][videoattr.runner.jobs] (what an
item is: a clip or a whole video), `rank_loop` (the loop over one rank's batches), `batches` (one
batch), [`sharding`][videoattr.runner.sharding] (which batches are a rank's),
[`store`][videoattr.runner.store] (result files), `locks` (per-clip locks),
`manifest`.

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

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from videoattr._version import __version__
from videoattr.core.devices import resolve_device
from videoattr.core.state import model_session
from videoattr.core.targets import parse_target
from videoattr.core.validation import check_positive_int, describe
from videoattr.pipeline import AttributorLike, Method, as_method
from videoattr.runner.batches import BatchContext
from videoattr.runner.dataset import ClipItems, dataset_ids
from videoattr.runner.guard import RUN_FILES, check_or_record, check_output_folder
from videoattr.runner.jobs import job_for
from videoattr.runner.locks import DEFAULT_STALE_AFTER_S, ClipLocks
from videoattr.runner.manifest import write_manifest
from videoattr.runner.rank_loop import RankLoop, run_rank
from videoattr.runner.sharding import (
    DEFAULT_SYNC_TIMEOUT_S,
    context_from_env,
    gather,
    process_group,
)
from videoattr.runner.store import ResultStore, write_json
from videoattr.runner.summary import RankSummary, RunSummary

logger = logging.getLogger("videoattr.runner")


def run(
    data: Dataset[Any] | Sequence[Any] | str | Path,
    model: nn.Module,
    attributor: AttributorLike,
    out_dir: str | Path,
    *,
    options: Mapping[str, Any] | None = None,
    areas: Sequence[float] | None = None,
    batch_size: int = 4,
    num_workers: int = 2,
    target: int | str | Sequence[int | str] | None = None,
    device: str | torch.device | None = None,
    retry_failed: bool = True,
    progress: bool = True,
    log_every_s: float = 30.0,
    sync_timeout_s: float = DEFAULT_SYNC_TIMEOUT_S,
    lock_stale_after_s: float = DEFAULT_STALE_AFTER_S,
    settings: Mapping[str, Any] | None = None,
    whole_videos: bool = False,
    window_stride: int | None = None,
    frame_step: int = 1,
    short_video: Literal["pad", "error"] = "pad",
) -> RunSummary:
    """Attribute every clip of ``data`` and write one result file per clip under ``out_dir``.

    Run it in one process, or on every rank of ``torchrun --nproc_per_node=N`` (or across nodes):
    each rank then takes its own shard of batches, on ``cuda:<LOCAL_RANK>`` when there are GPUs, and
    the summary is gathered over a ``gloo`` process group at the end (a barrier: every rank returns
    the same summary once all have finished).

    Each result ``OUT/results/<id>.npz`` holds ``maps``, the float32 ``(A, T, H, W)`` attribution
    maps (``A = 1`` for gradient methods, one channel per area for perturbation methods), and
    ``meta``, JSON text with the clip's id, source, label, the prediction and the explained class with
    their probabilities, the preserved probability per area (perturbation methods), the time, the
    model, the method's configuration and a checksum of the maps. Read them with
    `ResultStore.read_result`.

    With ``whole_videos=True`` each item is a whole video explained with sliding windows of the
    model's clip length (see [`videoattr.runner.videos`][videoattr.runner.videos]): ``maps`` is then
    ``(A, M, H, W)``, one map per sampled frame, and ``meta`` holds the windows and their
    probabilities; ranks share out videos, and ``batch_size`` is the number of windows per model
    call.

    Args:
        data: a folder of videos and frame folders (read with ``model``'s frame sampling and
            preprocessing, see [`VideoFolder`][videoattr.datasets.folders.VideoFolder]), or a map-style
            Dataset (or a list) of ``(clip (C, T, H, W), target_or_label[, id or extra])`` items (see
            [`videoattr.runner.dataset`][videoattr.runner.dataset]).
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits; a zoo adapter for a folder. It
            is moved to the run's device and put in eval mode; its flags are restored at the end.
        attributor: a registered method name or alias (``"saliency"``, ``"grad_cam"``, ``"ig"``,
            ``"step"``, ...) built for ``model`` with ``options``, an
            [`Attributor`][videoattr.core.base.Attributor], or a callable
            ``(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``. Results record the
            method's canonical name and its ``config()``.
        out_dir: the output folder (see [`videoattr.runner.store`][videoattr.runner.store] for its layout).
        options: options for a method given by name (see
            [`build_attributor`][videoattr.methods.registry.build_attributor]). Default: the method's defaults
            with what the adapter supplies (see `videoattr.pipeline.model_options`).
        areas: the areas of a perturbation method. Default ``(0.1,)``.
        batch_size: clips per attribution call (and per DataLoader batch). Default 4.
        num_workers: DataLoader worker processes decoding clips while the model computes; 0 decodes
            in the main process. Default 2.
        target: ``None`` (default) explains the item's label when it is a class (an int, or a name
            among ``model.class_names``) and else the model's top class; an int or a class name
            explains that class for every clip; several classes per clip are a list of them or a
            top-k request ``"top3"``: each result then holds maps ``(K, A, T, H, W)`` and
            ``meta["targets"]`` (one record per class; one method call per class). Read by
            [`parse_target`][videoattr.core.targets.parse_target], as ``--target`` is.
        device: where to compute; ``None`` picks ``cuda:<LOCAL_RANK>`` if CUDA is available, else the
            CPU (``"cuda"`` without an index also means the rank's GPU). See
            `videoattr.core.devices.resolve_device`.
        retry_failed: redo clips that failed in an earlier run. Default ``True``.
        progress: a tqdm progress bar per rank. Default ``True``.
        log_every_s: seconds between progress lines in the log (logger ``videoattr.runner``).
            Default 30.
        sync_timeout_s: how long a rank that finished waits for the others at the end. Default two
            days.
        lock_stale_after_s: age after which another process's clip lock counts as abandoned (see
            `videoattr.runner.locks`). Default one day.
        settings: extra values recorded with the run's settings and in every result (e.g. the
            model's name and weights).
        whole_videos: explain whole videos with sliding windows instead of one clip per item:
            ``data`` is a folder (read as a
            [`WholeVideoFolder`][videoattr.runner.videos.WholeVideoFolder]) or a Dataset of
            ``(VideoFrames, target_or_label[, id])``. Default ``False``.
        window_stride: with ``whole_videos``, sampled frames between window starts (default: half
            the clip length).
        frame_step: with ``whole_videos``, keep every ``frame_step``-th video frame. Default 1.
        short_video: with ``whole_videos``, ``"pad"`` (default) repeats the last frame of a video
            shorter than one window, ``"error"`` records it as failed.

    Returns:
        The `RunSummary` over all ranks.

    Raises:
        ValueError: ``out_dir`` holds results made with other settings or a malformed ``run.json``,
            an unknown ``target`` name, an unavailable ``device``, or an invalid
            ``batch_size``/``num_workers``/dataset ids.
        TypeError: an unsupported ``attributor``, or a folder with a model that is not an adapter.
        DiskFullError: the output folder's device filled up (results written so far are kept;
            rerun to resume).
    """
    start, wall_start = time.perf_counter(), time.time()
    out_path = _checked_arguments(model, out_dir, batch_size, num_workers)
    _ensure_log_handler()
    ctx = context_from_env()
    dev = resolve_device(device, local_rank=ctx.local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    model.to(dev)
    job = job_for(  # a bar over each video's windows below the rank's bar, in one process only
        model,
        whole_videos=whole_videos,
        window_stride=window_stride,
        frame_step=frame_step,
        short_video=short_video,
        batch_size=batch_size,
        progress=progress and not ctx.is_distributed,
    )
    own = [out_path, *(out_path / name for name in RUN_FILES)]  # never read as videos
    dataset = job.folder(data, model, own) if isinstance(data, (str, Path)) else data
    ids = dataset_ids(dataset)
    sources = getattr(dataset, "sources", None)
    check_output_folder(out_path, [s for s in sources or () if Path(s).exists()])
    class_names = getattr(model, "class_names", None)
    request = parse_target(target, class_names)
    method = as_method(attributor, model, options, areas=areas)
    store = ResultStore(out_path)
    extra = dict(settings) if settings else {}
    config = {
        "method": method.name,
        "settings": method.config,
        "areas": list(method.areas),
        "model": str(getattr(model, "name", type(model).__name__)),
        "target": target,
        "version": __version__,
        **extra,
        **job.record(),
    }
    data_record = (
        {"videos_dir": str(Path(data).resolve())} if isinstance(data, (str, Path)) else None
    )
    record = check_or_record(
        store.root, config, _rounding(method, dev), num_items=len(ids), data=data_record
    )
    bc = BatchContext(
        model=model,
        method=method,
        store=store,
        locks=ClipLocks(store.root, stale_after_s=lock_stale_after_s),
        device=dev,
        request=request,
        ctx=ctx,
        summary=RankSummary(rank=ctx.rank, world_size=ctx.world_size, device=str(dev)),
        settings={**extra, "settings": method.config},
        started=wall_start,
        job=job,
    )
    loop = RankLoop(
        job.items_per_call(batch_size), num_workers, retry_failed, progress, log_every_s
    )
    items = ClipItems(dataset, ids, class_names, job=job)
    return _run_ranks(bc, items, loop, record["config"], start, sync_timeout_s)


def _checked_arguments(
    model: nn.Module, out_dir: str | Path, batch_size: int, num_workers: int
) -> Path:
    """The output folder, once the model, the folder and the batch settings are checked."""
    check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative int; got {num_workers!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
    out_path = Path(out_dir)
    if out_path.exists() and not out_path.is_dir():
        raise ValueError(f"out_dir {str(out_path)!r} exists and is not a folder")
    return out_path


def _rounding(method: Method, dev: torch.device) -> dict[str, Any]:
    """What changes the rounding of the results (recorded: a rerun that differs is told)."""
    rounding: dict[str, Any] = {
        "max_batch_size": method.config.get("max_batch_size"),
        "device": str(dev),
        "threads": torch.get_num_threads(),
    }
    if method.areas:  # how the perturbation's blur is computed (runs before it: conv2d)
        rounding["blur"] = "banded matrix products"
    return rounding


def _run_ranks(
    bc: BatchContext,
    items: ClipItems,
    loop: RankLoop,
    config: dict[str, Any],
    start: float,
    sync_timeout_s: float,
) -> RunSummary:
    """Do this rank's share, gather every rank's summary, and (rank 0) write the manifest."""
    ctx, store, unit = bc.ctx, bc.store, bc.job.unit
    with process_group(ctx, sync_timeout_s) as active, model_session(bc.model, eval_mode=True):
        try:
            mine = run_rank(bc, items, loop, start=start)
        finally:
            bc.locks.release_all()
        write_json(store.root / "ranks" / f"rank{ctx.rank}.json", mine.as_dict())
        summary = RunSummary.of(gather(mine, ctx, active), store.root, len(items.ids), unit)
        if ctx.is_main:
            write_manifest(store, items.ids, items.sources, config, summary)
            logger.info("run finished: %s; manifest %s", summary, summary.manifest)
            if summary.failed:
                logger.warning(
                    "%d %s(s) failed; their errors are in %s",
                    summary.failed,
                    unit,
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
