"""The files of a dataset run, written so that a crash never leaves a result that looks complete.

Layout under the output folder ``OUT``::

    OUT/run.json                 the run's settings (a rerun with other settings is refused)
    OUT/results/<id>.npz         one per clip: ``maps`` float32 (A, T, H, W) and ``meta`` (JSON text)
    OUT/failures/<id>.json       one per clip that failed: the error and its traceback
    OUT/locks/<id>.lock          while a process works on a clip: its pid, host and run id
    OUT/ranks/rank<r>.json       each rank's summary of its last run
    OUT/manifest.json            every clip's status, written by rank 0 at the end

Every file is written under a temporary name that starts with ``.`` (``.<id>.npz.<pid>-<thread>.tmp``),
flushed to disk and renamed: the rename is atomic, so ``<id>.npz`` is either absent or complete.
Each result's ``meta`` holds a SHA-256 checksum of its maps (their bytes, dtype and shape); a result
counts as complete only when the archive opens, holds ``maps`` and ``meta`` and the checksum
matches, so a file truncated or damaged in place (a copy, a full disk, flipped bits) is redone
rather than trusted. Temporary files left by a killed process are removed when the clip is next
attempted by the process that then holds its lock, never while their writer is alive.

Example:
    >>> store = ResultStore("runs/kinetics-step")                          # doctest: +SKIP
    >>> maps, meta = store.read_result("abseiling-0001")                   # doctest: +SKIP
    >>> maps.shape, meta["target"]["name"]                                 # doctest: +SKIP
    ((1, 16, 112, 112), 'abseiling')
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from videoattr.core.validation import describe

RESULT_SUFFIX = ".npz"
FAILURE_SUFFIX = ".json"
_RESULT_MEMBERS = frozenset({"maps.npy", "meta.npy"})
_FORBIDDEN_ID_CHARS = ("/", "\\", "\0")


def check_id(clip_id: object) -> str:
    """Validate a clip id: it names files, so it must be a plain file name.

    Raises:
        TypeError: not a str.
        ValueError: empty, longer than 200 characters, starting with ``.``, or holding ``/``, ``\\``
            or a NUL character.
    """
    if not isinstance(clip_id, str):
        raise TypeError(f"clip id must be a str; got {describe(clip_id)}")
    if not clip_id or len(clip_id) > 200:
        raise ValueError(f"clip id must have 1 to 200 characters; got {clip_id!r}")
    if clip_id.startswith(".") or any(c in clip_id for c in _FORBIDDEN_ID_CHARS):
        raise ValueError(
            f"clip id must be a plain file name (no '/', '\\\\', NUL, no leading '.'); got {clip_id!r}"
        )
    return clip_id


class DiskFullError(OSError):
    """The output folder's file system is full (or over quota): the run stops, what is done is kept."""


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    Raises:
        DiskFullError: no space left on the device (the temporary file is removed).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in _FULL and not isinstance(err, DiskFullError):
            raise DiskFullError(
                err.errno, f"no space left on the device to write {path}: {err.strerror}"
            ) from err
        raise


def maps_checksum(maps: np.ndarray) -> str:
    """``"sha256:<hex>"`` of an array's dtype, shape and bytes (what a result's ``meta`` records)."""
    a = np.ascontiguousarray(maps)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return f"sha256:{h.hexdigest()}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (``True`` when that cannot be told)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically; parent folders are created."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(p, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())
    return p


def _tmp_owner(name: str, suffix: str) -> str | None:
    """The clip id of a temporary file ``.<id><suffix>.<pid>[-<thread>].tmp``, else ``None``."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    stem = name[1:-4].rpartition(".")[0]  # drop ".<pid>"
    return stem[: -len(suffix)] if stem.endswith(suffix) else None


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary file's name (``.<id><suffix>.<pid>.tmp``) runs."""
    pid = name[:-4].rpartition(".")[2].partition("-")[0]
    return pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid))


class ResultStore:
    """Result and failure files of one run folder.

    Args:
        root: the output folder ``OUT`` (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.results_dir = self.root / "results"
        self.failures_dir = self.root / "failures"

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    # -- paths ----------------------------------------------------------------------------------------
    def result_path(self, clip_id: str) -> Path:
        """``OUT/results/<id>.npz``."""
        return self.results_dir / f"{check_id(clip_id)}{RESULT_SUFFIX}"

    def failure_path(self, clip_id: str) -> Path:
        """``OUT/failures/<id>.json``."""
        return self.failures_dir / f"{check_id(clip_id)}{FAILURE_SUFFIX}"

    # -- completeness ---------------------------------------------------------------------------------
    @staticmethod
    def is_valid_result(path: Path) -> bool:
        """Whether ``path`` is a whole result: an archive with ``maps`` and ``meta`` whose checksum matches.

        The maps are read and hashed (see [`maps_checksum`][videoattr.runner.store.maps_checksum]); a result without a checksum (written
        by an older version) counts as complete when both members read back.
        """
        try:
            with zipfile.ZipFile(path) as z:
                if not _RESULT_MEMBERS.issubset(z.namelist()):
                    return False
            with np.load(path, allow_pickle=False) as data:
                maps = data["maps"]
                meta = json.loads(str(data["meta"]))
        except Exception:  # any damage (zip, CRC, npy header, JSON) means: redo the clip
            return False
        if not isinstance(meta, dict):
            return False
        recorded = meta.get("checksum")
        return recorded is None or recorded == maps_checksum(maps)

    def complete_ids(self, ids: Iterable[str] | None = None) -> set[str]:
        """The ids whose result file is complete (one listing of the folder, one check per file).

        Args:
            ids: restrict the check to these ids (a rank checks its own shard); ``None`` checks all.
        """
        listed = self._listing(self.results_dir, RESULT_SUFFIX)
        wanted = listed if ids is None else listed & set(ids)
        return {i for i in wanted if self.is_valid_result(self.results_dir / f"{i}{RESULT_SUFFIX}")}

    def failed_ids(self, ids: Iterable[str] | None = None) -> set[str]:
        """The ids with a failure record (complete results take precedence in a manifest)."""
        listed = self._listing(self.failures_dir, FAILURE_SUFFIX)
        return listed if ids is None else listed & set(ids)

    @staticmethod
    def _listing(folder: Path, suffix: str) -> set[str]:
        if not folder.is_dir():
            return set()
        return {
            name[: -len(suffix)]
            for name in os.listdir(folder)
            if name.endswith(suffix) and not name.startswith(".")
        }

    def remove_temporary(self, ids: Iterable[str]) -> int:
        """Delete temporary files that a killed process left for ``ids``; returns how many were removed.

        Only the given ids are touched (call it for clips whose lock this process holds), and a
        temporary whose writer (the pid in its name) still runs on this machine is left alone.
        """
        wanted = set(ids)
        removed = 0
        for folder, suffix in (
            (self.results_dir, RESULT_SUFFIX),
            (self.failures_dir, FAILURE_SUFFIX),
        ):
            if not folder.is_dir():
                continue
            for name in os.listdir(folder):
                owner = _tmp_owner(name, suffix)
                if owner is not None and owner in wanted and not _writer_alive(name):
                    (folder / name).unlink(missing_ok=True)
                    removed += 1
        return removed

    # -- writing --------------------------------------------------------------------------------------
    def write_result(self, clip_id: str, maps: np.ndarray, meta: Mapping[str, Any]) -> Path:
        """Write ``<id>.npz`` atomically and drop the clip's failure record, if any.

        Args:
            clip_id: the clip's id.
            maps: ``(A, T, H, W)`` maps; stored as float32 (float16 would turn small gradients into
                zeros and subnormals).
            meta: JSON-serialisable metadata, stored as the ``meta`` member (JSON text) with the
                maps' ``checksum`` added.

        Raises:
            DiskFullError: the device is full; nothing is left under the final name.
        """
        path = self.result_path(clip_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = np.ascontiguousarray(maps, dtype=np.float32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            maps=stored,
            meta=np.asarray(json.dumps({**dict(meta), "checksum": maps_checksum(stored)})),
        )
        _atomic_write(path, buffer.getvalue())
        self.failure_path(clip_id).unlink(missing_ok=True)
        return path

    def write_failure(self, clip_id: str, record: Mapping[str, Any]) -> Path:
        """Write ``failures/<id>.json`` atomically (the error of a clip that could not be done)."""
        return write_json(self.failure_path(clip_id), dict(record))

    # -- reading --------------------------------------------------------------------------------------
    def read_result(self, clip_id: str) -> tuple[np.ndarray, dict[str, Any]]:
        """The float32 maps ``(A, T, H, W)`` and the metadata of a clip.

        Raises:
            FileNotFoundError: the clip has no result.
        """
        path = self.result_path(clip_id)
        with np.load(path, allow_pickle=False) as data:
            maps = data["maps"]
            meta: dict[str, Any] = json.loads(str(data["meta"]))
        return maps, meta

    def read_meta(self, clip_id: str) -> dict[str, Any]:
        """The metadata of a clip's result (the maps are not read).

        Raises:
            FileNotFoundError: the clip has no result.
            ValueError: the result's ``meta`` is not a JSON object.
        """
        with np.load(self.result_path(clip_id), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
        if not isinstance(meta, dict):
            raise ValueError(f"result {clip_id}: meta is not a JSON object")
        return meta

    def read_failure(self, clip_id: str) -> dict[str, Any]:
        """The failure record of a clip.

        Raises:
            FileNotFoundError: the clip has no failure record.
        """
        record: dict[str, Any] = json.loads(self.failure_path(clip_id).read_text())
        return record
