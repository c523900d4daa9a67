"""The report of a dataset run: every video's outcome gathered from the run folder, for
[`write_report`][videoattr.runner.report_page.write_report] (``videoattr report RUN_DIR``).

What is read, and nothing is recomputed or rewritten:

- ``run.json`` (the run's settings: model, method, weights, versions);
- ``manifest.json`` (every clip's status; without it, the statuses the result and failure files
  give, as ``videoattr run`` rebuilds them);
- each result's metadata (target, prediction, their probabilities, the preserved probabilities, the
  method and the seconds it took; one row per target when several were explained) through
  [`ResultStore.read_meta`][videoattr.runner.store.ResultStore.read_meta], never the maps;
- each failure record's error;
- the pictures that ``videoattr render`` wrote (``RUN_DIR/pictures`` by default): a file belongs to
  the video whose id starts its name (``<id>.png``, ``<id>.gif``, ``<id>.mp4``,
  ``<id>.timeline.png``, ``<id>.<class>.png`` for several targets).

Example:
    >>> report = collect_report("runs/kinetics-step")                   # doctest: +SKIP
    >>> report.counts, report.rows[0].target                            # doctest: +SKIP
    ({'total': 3, 'done': 2, 'failed': 1, 'missing': 0}, 'abseiling')
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from videoattr._version import __version__
from videoattr.runner.guard import read_record
from videoattr.runner.store import ResultStore

__all__ = ["PICTURE_KINDS", "ReportRow", "RunReport", "collect_report", "picture_index"]

#: What a picture file is, by the end of its name (checked in this order).
PICTURE_KINDS: tuple[tuple[str, str], ...] = (
    (".timeline.png", "timeline"),
    (".png", "sheet"),
    (".gif", "animation"),
    (".mp4", "video"),
)


@dataclass(frozen=True)
class ReportRow:
    """One line of the report: one explained target of one video, or a video that failed.

    Attributes:
        id: the video's id in the run.
        index: its position in the dataset (``None`` when unknown).
        source: the video file it was read from.
        status: ``"done"``, ``"failed"`` or ``"missing"`` (not attempted yet, or busy).
        error: the failure's ``"ErrorType: message"`` (failed videos).
        label: the video's ground-truth label, when the dataset has one.
        target: the explained class's name (or index).
        target_probability: ``p(target | clip)``.
        prediction: the model's top class.
        prediction_probability: ``p(prediction | clip)``.
        preserved: ``p(target | preserved)`` per area (perturbation methods).
        method: the method's name.
        seconds: the time the explanation took.
        pictures: ``(kind, path)`` of every picture of the video (``"sheet"``, ``"animation"``,
            ``"video"``, ``"timeline"``), paths absolute.
        failure: the failure record's path (failed videos).
    """

    id: str
    index: int | None
    source: str | None
    status: str
    error: str | None = None
    label: str | None = None
    target: str | None = None
    target_probability: float | None = None
    prediction: str | None = None
    prediction_probability: float | None = None
    preserved: tuple[float, ...] = ()
    method: str | None = None
    seconds: float | None = None
    pictures: tuple[tuple[str, Path], ...] = ()
    failure: Path | None = None

    @property
    def correct(self) -> bool | None:
        """Whether the prediction is the target (``None`` when either is unknown)."""
        if self.target is None or self.prediction is None:
            return None
        return self.target == self.prediction


@dataclass(frozen=True)
class RunReport:
    """Everything the report page shows.

    Attributes:
        root: the run folder.
        config: the run's settings (``run.json``'s ``config``).
        rounding: the settings that change results by rounding (device, threads, ...).
        versions: ``name -> version``: videoattr that made the run, and the report's machine.
        counts: ``total``, ``done``, ``failed``, ``missing``.
        last_run: the manifest's summary of the last run (seconds, throughput, ranks), if any.
        rows: one [`ReportRow`][videoattr.runner.report.ReportRow] per target per video.
        pictures: the pictures folder read (``None`` when it does not exist).
    """

    root: Path
    config: Mapping[str, Any]
    rounding: Mapping[str, Any]
    versions: Mapping[str, str]
    counts: Mapping[str, int]
    last_run: Mapping[str, Any] | None
    rows: Sequence[ReportRow]
    pictures: Path | None = None
    unreadable: Sequence[str] = field(default_factory=tuple)


def picture_index(folder: Path, ids: Sequence[str]) -> dict[str, list[tuple[str, Path]]]:
    """The pictures of every id in ``folder``: ``id -> [(kind, path), ...]`` sorted by name.

    A file belongs to the longest id followed by ``.`` that starts its name, so ``a.b.png`` goes
    to the id ``a.b`` rather than ``a`` when both exist. Hidden and partial files are skipped.
    """
    out: dict[str, list[tuple[str, Path]]] = {}
    if not folder.is_dir():
        return out
    known = set(ids)
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or ".partial." in name:
            continue
        kind = next((k for end, k in PICTURE_KINDS if name.lower().endswith(end)), None)
        if kind is None:
            continue
        owner = None
        cut = name.find(".")
        while cut != -1:
            if name[:cut] in known:
                owner = name[:cut]
            cut = name.find(".", cut + 1)
        if owner is not None:
            out.setdefault(owner, []).append((kind, folder / name))
    return out


def _versions(config: Mapping[str, Any]) -> dict[str, str]:
    out = {"videoattr (run)": str(config.get("version", "unknown"))}
    out["videoattr (report)"] = __version__
    for package in ("torch", "torchvision"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[f"{package} (report machine)"] = metadata.version(package)
    out["python (report machine)"] = platform.python_version()
    return out


def _name(record: Mapping[str, Any]) -> str | None:
    if not isinstance(record, Mapping):
        return None
    value = record.get("name", record.get("index"))
    return None if value is None else str(value)


def _prob(record: Any) -> float | None:
    if isinstance(record, Mapping) and isinstance(record.get("prob"), (int, float)):
        return float(record["prob"])
    return None


def _plain(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _belongs(path: Path, clip_id: str, target: str | None, several: bool) -> bool:
    """Whether a picture of a video with several targets shows ``target``.

    The class name follows the id in the file name (``<id>.<class>.png``), compared without case,
    spaces or punctuation, so names made file-safe in any of the usual ways still match.
    """
    if not several or target is None:
        return True
    rest = path.name[len(clip_id) + 1 :]
    for end, _ in PICTURE_KINDS:
        if rest.lower().endswith(end):
            rest = rest[: -len(end)]
            break
    return _plain(rest) == _plain(target)


def _done_rows(
    store: ResultStore,
    entry: Mapping[str, Any],
    pictures: list[tuple[str, Path]],
    method: str | None,
) -> list[ReportRow]:
    clip_id = str(entry["id"])
    meta = store.read_meta(clip_id)
    several = meta.get("targets")
    records = several if isinstance(several, list) and several else [meta]
    rows = []
    for record in records:
        target = _name(record.get("target", {}))
        preserved = record.get("preserved_prob", meta.get("preserved_prob", []))
        seconds = record.get("seconds", meta.get("seconds"))
        mine = [(k, p) for k, p in pictures if _belongs(p, clip_id, target, len(records) > 1)]
        rows.append(
            ReportRow(
                id=clip_id,
                index=entry.get("index", meta.get("index")),
                source=entry.get("source", meta.get("source")),
                status="done",
                label=None if meta.get("label") is None else str(meta["label"]),
                target=target,
                target_probability=_prob(record.get("target")),
                prediction=_name(meta.get("prediction", {})),
                prediction_probability=_prob(meta.get("prediction")),
                preserved=tuple(float(p) for p in preserved or ()),
                method=str(meta.get("method", method)) if meta.get("method", method) else None,
                seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
                pictures=tuple(mine),
            )
        )
    return rows


def _entries(store: ResultStore, manifest: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every clip's manifest entry; rebuilt from the result and failure files without a manifest."""
    if manifest is not None and isinstance(manifest.get("clips"), list):
        clips: list[dict[str, Any]] = manifest["clips"]
        failed = store.failed_ids()
        for entry in clips:  # files written after the manifest win
            clip_id = str(entry.get("id"))
            if entry.get("status") == "done":
                continue  # its record is read for the row; a damaged one is reported there
            result = store.result_path(clip_id)
            if result.is_file() and store.is_valid_result(result):
                entry["status"] = "done"
            elif clip_id in failed and entry.get("status") != "failed":
                entry["status"] = "failed"
                entry["error"] = None
        return clips
    done = store.complete_ids()
    failed = store.failed_ids() - done
    return [{"id": i, "status": "done"} for i in sorted(done)] + [
        {"id": i, "status": "failed"} for i in sorted(failed)
    ]


def collect_report(run_dir: str | Path, pictures: str | Path | None = None) -> RunReport:
    """Gather what the report of a run shows.

    Args:
        run_dir: the output folder of ``videoattr run`` (holds ``run.json``).
        pictures: where ``videoattr render`` wrote the pictures; default ``run_dir/pictures``.

    Returns:
        The [`RunReport`][videoattr.runner.report.RunReport].

    Raises:
        FileNotFoundError: ``run_dir`` holds no ``run.json``.
        ValueError: ``run.json`` or ``manifest.json`` is not a valid record.
    """
    root = Path(run_dir)
    if not (root / "run.json").is_file():
        raise FileNotFoundError(
            f"run_dir {str(root)!r} holds no run.json: not a `videoattr run` folder"
        )
    record = read_record(root / "run.json")
    config: dict[str, Any] = record["config"]
    manifest = None
    if (root / "manifest.json").is_file():
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{root / 'manifest.json'} is not valid JSON: {err.msg}") from None
    store = ResultStore(root)
    entries = _entries(store, manifest)
    folder = Path(pictures) if pictures is not None else root / "pictures"
    index = picture_index(folder, [str(e["id"]) for e in entries])
    method = config.get("method") if isinstance(config.get("method"), str) else None
    rows: list[ReportRow] = []
    unreadable: list[str] = []
    statuses: list[str] = []
    for entry in entries:
        clip_id = str(entry["id"])
        status = str(entry.get("status", "missing"))
        statuses.append(status)
        if status == "done":
            try:
                rows.extend(_done_rows(store, entry, index.get(clip_id, []), method))
                continue
            except Exception as err:  # any damage to a result since the run: reported, not fatal
                unreadable.append(f"{clip_id}: {type(err).__name__}: {err}")
                status, entry = "failed", {**entry, "error": f"unreadable result: {err}"}
                statuses[-1] = status
        error = entry.get("error")
        failure = store.failure_path(clip_id)
        if status == "failed" and error is None and failure.is_file():
            try:
                error = store.read_failure(clip_id).get("error")
            except (OSError, ValueError):
                error = None
        rows.append(
            ReportRow(
                id=clip_id,
                index=entry.get("index"),
                source=entry.get("source"),
                status=status,
                error=None if error is None else str(error),
                method=method,
                pictures=tuple(index.get(clip_id, [])),
                failure=failure if failure.is_file() else None,
            )
        )
    counts = {
        "total": len(statuses),
        "done": statuses.count("done"),
        "failed": statuses.count("failed"),
    }
    counts["missing"] = counts["total"] - counts["done"] - counts["failed"]
    rounding = record.get("rounding", {})
    return RunReport(
        root=root,
        config=config,
        rounding=rounding if isinstance(rounding, dict) else {},
        versions=_versions(config),
        counts=counts,
        last_run=manifest.get("last_run") if isinstance(manifest, dict) else None,
        rows=rows,
        pictures=folder if folder.is_dir() else None,
        unreadable=tuple(unreadable),
    )
