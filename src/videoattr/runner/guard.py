"""The run's record, ``OUT/run.json``, and the resume guard that reads it.

A run writes what it computes with into ``run.json``: ``config`` (the method's full configuration,
its canonical name, the areas, the model, the target and the videoattr version) and ``rounding``
(the settings that change results only at the level of floating-point rounding: ``max_batch_size``,
the device, the number of CPU threads and, for the perturbation methods, how the blur is computed). A later run into the same folder is refused when its
``config`` differs, so results of two configurations never mix; when only ``rounding`` differs it is
accepted with a warning, because its results may differ in the last bits from the earlier ones.

Results are bit-reproducible only with the same machine (CPU or GPU model and torch build), the same
number of threads and the same ``max_batch_size``: other convolution kernels round differently, and
the sorted terms of the perturbation methods amplify such differences over the iterations.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoattr.runner.store import write_json

logger = logging.getLogger("videoattr.runner")

#: Settings that change results only by rounding; they may differ on resume (with a warning).
ROUNDING_KEYS = ("max_batch_size", "device", "threads", "blur")
#: Settings that never change results; left out of the comparison.
IGNORED_KEYS = frozenset({"progress"})

REPRODUCIBILITY = (
    "results are bit-reproducible only on the same machine and torch build with the same "
    "threads and max_batch_size (the 'rounding' settings); other values change results by "
    "rounding, which the perturbation methods amplify over their iterations"
)


def plain(value: Any) -> Any:
    """``value`` as plain JSON (tuples to lists, anything else to ``str``), keys in ``IGNORED_KEYS`` and
    ``max_batch_size`` (a rounding setting, recorded apart) left out of mappings."""

    def strip(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {
                str(k): strip(x)
                for k, x in v.items()
                if k not in IGNORED_KEYS and k != "max_batch_size"
            }
        if isinstance(v, (list, tuple)):
            return [strip(x) for x in v]
        return v

    return strip(json.loads(json.dumps(value, default=str)))


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            key = f"{prefix}.{k}" if prefix else k
            if k not in old or k not in new:
                out.append(key)
            else:
                out.extend(_differences(old[k], new[k], key))
        return out
    return [] if old == new else [prefix or "(whole value)"]


def read_record(path: Path) -> dict[str, Any]:
    """The record in ``run.json``, checked to be an object whose ``config`` is an object.

    Raises:
        ValueError: the file is not valid JSON or not shaped like a run record (names the file and
            what is wrong).
    """
    try:
        record = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a run record: it is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}; "
            "truncated?): restore it, or choose a new output folder"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(
            f"{path} must hold a JSON object with a 'config' object; got a JSON "
            f"{type(record).__name__}"
        )
    if not isinstance(record.get("config"), dict):
        got = type(record["config"]).__name__ if "config" in record else "no 'config' key"
        raise ValueError(f"{path}: 'config' must be a JSON object; got {got}")
    rounding = record.get("rounding", {})
    if not isinstance(rounding, dict):
        raise ValueError(f"{path}: 'rounding' must be a JSON object; got {type(rounding).__name__}")
    return record


#: What a run writes into its output folder besides ``run.json``.
RUN_FILES = ("manifest.json", "results", "failures", "locks", "ranks")


def check_output_folder(root: Path, inputs: Sequence[str | Path] = ()) -> None:
    """Refuse an output folder that is (or lies inside) an input, or that holds the files of a run
    but no ``run.json`` (another run, whose settings cannot be compared).

    Args:
        root: the output folder.
        inputs: the run's sources (video files and frame folders).

    Raises:
        ValueError: one line naming the folder and the input, or the other run's files.
    """
    from videoattr.io.overwrite import OutputGuard

    source = OutputGuard(root, inputs).input_at(root)
    if source is not None:
        raise ValueError(
            f"output folder {root} is or lies inside the input {source}: the run would write "
            "into its own input; choose another output folder"
        )
    if (root / "run.json").exists():
        return
    found = [
        name
        for name in RUN_FILES
        if (root / name).is_file() or ((root / name).is_dir() and any((root / name).iterdir()))
    ]
    if found:
        raise ValueError(
            f"output folder {root} holds the files of another run ({', '.join(found)}) but no "
            "run.json to compare settings with; choose a new output folder"
        )


def check_or_record(
    root: Path,
    config: Mapping[str, Any],
    rounding: Mapping[str, Any],
    *,
    num_items: int,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare a run's settings with the folder's ``run.json``, or write it for a new folder.

    Args:
        root: the output folder.
        config: what results depend on (compared exactly; see [`plain`][videoattr.runner.guard.plain]).
        rounding: the rounding-level settings (``max_batch_size``, ``device``, ``threads``).
        num_items: clips in the dataset.
        data: what the run reads (``{"videos_dir": <absolute path>}`` for a folder); a later run
            into the same folder must read the same (a record without it, from an older version,
            is accepted). Default none.

    Returns:
        The record in force (the earlier one on resume).

    Raises:
        ValueError: ``run.json`` is malformed, or holds another ``config`` (names the keys) or
            another ``data``.
    """
    path = root / "run.json"
    canonical = plain(config)
    rounding_now = json.loads(json.dumps(dict(rounding), default=str))
    data_now = json.loads(json.dumps(dict(data), default=str)) if data is not None else None
    if path.exists():
        record = read_record(path)
        before_data = record.get("data")
        if isinstance(before_data, dict) and data_now is not None and before_data != data_now:
            raise ValueError(
                f"output folder {root} holds a run of {before_data.get('videos_dir', before_data)}"
                f"; this run reads {data_now.get('videos_dir', data_now)}: choose a new output "
                f"folder (or, if the data only moved, edit 'data' in {path})"
            )
        keys = _differences(record["config"], canonical)
        if keys:
            raise ValueError(
                f"output folder {root} holds results made with other settings (differing: "
                f"{', '.join(keys)}); choose a new output folder, or delete {path} to mix them"
            )
        before = record.get("rounding", {})
        changed = [
            k
            for k in ROUNDING_KEYS
            if (k in before or k == "blur") and before.get(k) != rounding_now.get(k)
        ]
        if changed:
            logger.warning(
                "resuming %s with other rounding-level settings (%s): the results are the same "
                "method but may differ from the earlier ones in the last bits (%s)",
                root,
                ", ".join(f"{k} {before.get(k)!r} -> {rounding_now.get(k)!r}" for k in changed),
                REPRODUCIBILITY,
            )
        return record
    record = {
        "config": canonical,
        "rounding": rounding_now,
        "reproducibility": REPRODUCIBILITY,
        "num_items": num_items,
    }
    if data_now is not None:
        record["data"] = data_now
    write_json(path, record)
    return record
