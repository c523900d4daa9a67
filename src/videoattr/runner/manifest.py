"""``OUT/manifest.json``: every clip's status, rebuilt from the files on disk."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoattr.runner.store import ResultStore, write_json
from videoattr.runner.summary import RunSummary


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
            "busy": summary.busy,
            "seconds": summary.seconds,
            "clips_per_second": summary.clips_per_second,
            "world_size": len(summary.ranks),
            "ranks": [r.as_dict() for r in summary.ranks],
        }
    manifest["clips"] = clips
    return write_json(store.root / "manifest.json", json.loads(json.dumps(manifest, default=str)))
