"""[`evaluate`][videoattr.evaluation.evaluate]: attribute an annotated dataset with several methods, score, tabulate.

For each method the clips go through the dataset runner ([`videoattr.runner.run`][videoattr.runner.run]:
resumable, checksummed, sharded over ``torchrun`` ranks) into ``OUT/runs/<method>/``; the runner's
bar shows the videos done and the time left. Then each video's maps are scored against its boxes
(a bar with the running means), the per-video scores go to ``OUT/scores/<method>.csv``, and the
table (``OUT/table.md``, ``.csv``, ``.json``) and the figure (``OUT/figure.png``) are written.
Killed and run again with the same arguments, the runner skips the finished videos and the table
comes out the same: it is computed from the stored maps alone.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videoattr.core.validation import check_choice, describe
from videoattr.datasets.annotated import AnnotatedClips, OnProblem
from videoattr.evaluation.pairs import (
    JoinedPairs,
    PairScores,
    oracle_pair,
    score_pair,
    summarise_pairs,
)
from videoattr.evaluation.report import Row, Table
from videoattr.evaluation.scoring import (
    Cell,
    VideoScores,
    baseline_scores,
    score_video,
    summarise,
)
from videoattr.evaluation.sources import DatasetSource
from videoattr.methods.registry import resolve_method

__all__ = ["MethodSpec", "evaluate"]

#: ``protocol=`` values: which pointing columns the table shows.
PROTOCOL_CHOICES: tuple[str, ...] = ("correct", "reference", "both")


@dataclass(frozen=True)
class MethodSpec:
    """A method to evaluate: its name (the row and folder name), what the runner attributes with.

    Attributes:
        name: the row's name, a plain folder name (``"grad_cam"``).
        attributor: a registered method name, an [`Attributor`][videoattr.core.base.Attributor]
            or a callable, as [`run`][videoattr.runner.run] takes it.
        options: options of a method given by name. Default none.
        areas: the areas of a perturbation method. Default the runner's.
    """

    name: str
    attributor: Any
    options: Mapping[str, Any] = field(default_factory=dict)
    areas: Sequence[float] | None = None

    @classmethod
    def of(cls, method: str | MethodSpec) -> MethodSpec:
        """A spec from a method name (its canonical name names the row) or a spec."""
        if isinstance(method, MethodSpec):
            return method
        if not isinstance(method, str):
            raise TypeError(f"methods must be method names or MethodSpec; got {describe(method)}")
        return cls(resolve_method(method), method)


def _columns(protocol: str, pairs: bool) -> list[str]:
    check_choice(protocol, "protocol", PROTOCOL_CHOICES)
    pointing = {
        "correct": ["pointing"],
        "reference": ["pointing_reference"],
        "both": ["pointing", "pointing_reference"],
    }[protocol]
    return [*pointing, "mass", *(["grounding"] if pairs else [])]


def evaluate(
    source: DatasetSource,
    model: Any,
    methods: Sequence[str | MethodSpec],
    out_dir: str | Path,
    *,
    limit: int | None = None,
    protocol: str = "correct",
    pairs: bool = False,
    tolerance: float | None = None,
    smooth: float = 0.0,
    batch_size: int = 4,
    num_workers: int = 2,
    device: str | torch.device | None = None,
    on_problem: OnProblem = "skip",
    resamples: int = 1000,
    progress: bool = True,
    settings: Mapping[str, Any] | None = None,
) -> Table:
    """Attribute ``source``'s videos with each method, score the maps against the boxes, write the table.

    Args:
        source: the dataset ([`open_source`][videoattr.evaluation.open_source]).
        model: a model adapter for the dataset's classes
            ([`load_model_for`][videoattr.evaluation.load_model_for]).
        methods: method names (``"step"``, ``"grad_cam"``, ``"ig"``, ...) or
            [`MethodSpec`][videoattr.evaluation.MethodSpec]s.
        out_dir: the output folder (see the module docs for its layout).
        limit: only the first ``limit`` videos of the split. Default all.
        protocol: the pointing columns: ``"correct"`` (default), ``"reference"`` (the reference
            implementation's scoring, see [`videoattr.metrics.protocols`][videoattr.metrics.protocols])
            or ``"both"``.
        pairs: also score temporal grounding on joined pairs of videos (a second run per method,
            into ``OUT/runs/<method>-pairs``; see [`videoattr.evaluation.pairs`][videoattr.evaluation.pairs]).
            Default ``False``.
        tolerance: pointing tolerance in pixels; ``None`` (default) is 7 px at 112 x 112 scaled to
            the clip.
        smooth: Gaussian smoothing of each frame's map (std in px) before taking its peak. Default 0.
        batch_size: clips per attribution call. Default 4.
        num_workers: DataLoader processes reading frames. Default 2.
        device: where to compute (see [`run`][videoattr.runner.run]).
        on_problem: ``"skip"`` (default) lists and leaves out videos that are not what the
            annotation claims; ``"error"`` stops at the first.
        resamples: bootstrap resamples for the standard errors. Default 1000.
        progress: show the bars. Default ``True``.
        settings: extra values recorded in the runs and the table's configuration (the model's
            name and weights, say).

    Returns:
        The [`Table`][videoattr.evaluation.Table], also written to ``out_dir``.

    Raises:
        ValueError: no methods, two methods with one name, a bad ``protocol`` or ``limit``, or
            (``on_problem="error"``) a video that is not what its annotation claims.
    """
    from videoattr.runner import ResultStore, run

    columns = _columns(protocol, pairs)
    specs = [MethodSpec.of(m) for m in methods]
    if not specs:
        raise ValueError("methods must name at least one method")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"methods must have different names; got {names}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None; got {limit!r}")
    data = source.clips(model, on_problem=on_problem, limit=limit)
    if len(data) == 0:
        raise ValueError(
            f"{source.name}: no video left to evaluate ({len(data.skipped)} skipped; the first: "
            f"{data.skipped[0] if data.skipped else 'none'})"
        )
    joined = JoinedPairs(data) if pairs else None
    out = Path(out_dir)
    extra = {"dataset": source.name, "annotation": source.annotation, **dict(settings or {})}
    rows: list[Row] = []
    accuracy: float | None = None
    for spec in specs:
        run(
            data,
            model,
            spec.attributor,
            out / "runs" / spec.name,
            options=spec.options or None,
            areas=spec.areas,
            batch_size=batch_size,
            num_workers=num_workers,
            device=device,
            progress=progress,
            settings=extra,
        )
        with _one_thread():
            scores, failed, seconds = _score_method(
                data, ResultStore(out / "runs" / spec.name), spec.name, tolerance, smooth, progress
            )
        _write_scores(out / "scores" / f"{spec.name}.csv", scores)
        if accuracy is None and scores and all(s.correct is not None for s in scores):
            accuracy = sum(bool(s.correct) for s in scores) / len(scores)
        cells = summarise(scores, len(data.class_names), resamples=resamples)
        if joined is not None:
            run(
                joined,
                model,
                spec.attributor,
                out / "runs" / f"{spec.name}-pairs",
                options=spec.options or None,
                areas=spec.areas,
                batch_size=batch_size,
                num_workers=num_workers,
                device=device,
                progress=progress,
                settings={**extra, "joined_pairs": True},
            )
            with _one_thread():
                pair_scores, pair_failed = _score_pairs(
                    joined, ResultStore(out / "runs" / f"{spec.name}-pairs")
                )
            _write_scores(out / "scores" / f"{spec.name}-pairs.csv", pair_scores)
            cells["grounding"] = summarise_pairs(
                pair_scores, len(data.class_names), resamples=resamples
            )
            failed += pair_failed
        rows.append(Row(spec.name, cells, len(scores), len(failed), seconds))
    for kind in ("oracle", "random"):
        with _one_thread():
            base = [
                baseline_scores(
                    data.boxes(i),
                    data.geometry(i).size,
                    data.labels[i],
                    data.ids[i],
                    kind,
                    tolerance=tolerance,
                )
                for i in range(len(data))
            ]
        _write_scores(out / "scores" / f"{kind}.csv", base)
        cells = summarise(base, len(data.class_names), resamples=resamples)
        if joined is not None and kind == "oracle":
            with _one_thread():
                oracle = [oracle_pair(joined, k) for k in range(len(joined))]
            cells["grounding"] = summarise_pairs(oracle, len(data.class_names), resamples=resamples)
        elif joined is not None:
            cells["grounding"] = Cell(
                0.5, 0.0, len(joined)
            )  # a tie-free random map: 1 or 0 equally
        rows.append(Row(kind, cells, len(base), baseline=True))
    config = {
        "dataset": source.name,
        "annotation": source.annotation,
        "num_classes": len(data.class_names),
        "num_videos": len(data),
        "methods": names,
        "protocol": protocol,
        "joined_pairs": pairs,
        "tolerance": tolerance,
        "smooth": smooth,
        "limit": limit,
        "on_problem": on_problem,
        "resamples": resamples,
        "clip": {"clip_len": data.clip_len, "preprocessing": repr(data.preprocessing)},
        **dict(settings or {}),
    }
    table = Table(
        rows,
        columns,
        config,
        skipped=list(data.skipped),
        accuracy=accuracy,
        clipped=list(data.clipped),
    )
    table.write(out)
    return table


@contextmanager
def _one_thread() -> Iterator[None]:
    """Score with one PyTorch thread: the maps are small, and more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _score_method(
    data: AnnotatedClips,
    store: Any,
    name: str,
    tolerance: float | None,
    smooth: float,
    progress: bool,
) -> tuple[list[VideoScores], list[str], float | None]:
    """Score every stored result of one method; returns the scores, the failed ids, seconds/video."""
    from tqdm import tqdm

    scores: list[VideoScores] = []
    failed: list[str] = []
    seconds: list[float] = []
    complete = store.complete_ids(data.ids)
    bar = tqdm(total=len(data), desc=f"scoring {name}", unit="video", disable=not progress)
    with bar:
        for i, video_id in enumerate(data.ids):
            bar.update(1)
            if video_id not in complete:
                failed.append(video_id)
                continue
            maps, meta = store.read_result(video_id)
            label = data.labels[i]
            prediction = (meta.get("prediction") or {}).get("index")
            s = score_video(
                torch.from_numpy(maps),
                data.boxes(i),
                label,
                video_id,
                tolerance=tolerance,
                smooth=smooth,
                correct=None if prediction is None else int(prediction) == label,
            )
            scores.append(s)
            if isinstance(meta.get("seconds"), (int, float)):
                seconds.append(float(meta["seconds"]))
            bar.set_postfix_str(_running(scores), refresh=False)
    return scores, failed, (sum(seconds) / len(seconds) if seconds else None)


def _score_pairs(joined: JoinedPairs, store: Any) -> tuple[list[PairScores], list[str]]:
    """Score every stored result of the joined pairs; returns the scores and the failed ids."""
    scores: list[PairScores] = []
    failed: list[str] = []
    complete = store.complete_ids(joined.ids)
    for k, pair_id in enumerate(joined.ids):
        if pair_id not in complete:
            failed.append(pair_id)
            continue
        maps, _meta = store.read_result(pair_id)
        scores.append(
            score_pair(torch.from_numpy(maps), joined.evidence(k), joined.labels[k], pair_id)
        )
    return scores, failed


def _running(scores: Sequence[VideoScores]) -> str:
    """The running means (pooled, not class-averaged) shown on the bar."""
    frames = sum(s.frames for s in scores)
    ref = sum(s.ref_frames for s in scores)
    mass = [s.mass for s in scores if not math.isnan(s.mass)]
    parts = []
    if frames:
        parts.append(f"pointing {sum(s.hits for s in scores) / frames:.3f}")
    if ref:
        parts.append(f"reference {sum(s.ref_hits for s in scores) / ref:.3f}")
    if mass:
        parts.append(f"mass {sum(mass) / len(mass):.3f}")
    return ", ".join(parts)


def _write_scores(path: Path, scores: Sequence[VideoScores] | Sequence[PairScores]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = (
        ["id", "label", "hits", "frames", "ref_hits", "ref_frames", "mass", "correct"]
        if not scores or isinstance(scores[0], VideoScores)
        else ["id", "label", "half", "peak_frame"]
    )
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for s in scores:
            writer.writerow(s.as_dict())
