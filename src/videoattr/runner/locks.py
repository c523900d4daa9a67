"""Per-clip locks, so that two runs on one output folder never do a clip twice at the same time.

The ranks of one ``torchrun`` job share the output folder by design and never want the same clip;
two separate runs started on the same folder would. Before a process attributes a clip it takes the
clip's lock, ``OUT/locks/<id>.lock``: a small JSON record of its owner (``pid``, ``host``,
``run_id``, ``time``) created atomically (a hard link that fails when the lock exists). A clip whose
lock another live process holds is left to that process. A lock is *stale*, and taken over, when
its owner's pid no longer runs on this host, or when it is older than ``stale_after_s`` (an owner on
another machine that died); an unreadable lock record counts as stale once it is older than a
minute.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from videoattr.runner.store import check_id, pid_alive

#: Default age after which a lock of another host counts as abandoned: one day.
DEFAULT_STALE_AFTER_S = 24 * 3600.0
_UNREADABLE_GRACE_S = 60.0


class ClipLocks:
    """The locks of one output folder, taken for one run.

    Args:
        root: the output folder ``OUT``.
        run_id: this run's id (recorded in each lock). Default: a new random id.
        stale_after_s: age after which any lock counts as abandoned. Default one day.
    """

    def __init__(
        self,
        root: str | Path,
        run_id: str | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
    ) -> None:
        self.folder = Path(root) / "locks"
        self.run_id = run_id or uuid.uuid4().hex
        self.stale_after_s = float(stale_after_s)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held: set[str] = set()

    def path(self, clip_id: str) -> Path:
        """``OUT/locks/<id>.lock``."""
        return self.folder / f"{check_id(clip_id)}.lock"

    def owner(self, clip_id: str) -> dict[str, Any] | None:
        """The record of the clip's lock, ``{}`` when it cannot be read, ``None`` when unlocked."""
        try:
            text = self.path(clip_id).read_text()
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            record = json.loads(text)
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def is_stale(self, record: dict[str, Any], age_s: float) -> bool:
        """Whether a lock with this record and age was abandoned by its owner."""
        if age_s > self.stale_after_s:
            return True
        pid = record.get("pid")
        if not isinstance(pid, int) or "host" not in record:
            return age_s > _UNREADABLE_GRACE_S
        if record["host"] == self.host:
            return pid != self.pid and not pid_alive(pid)  # another thread of ours is alive
        return False

    def acquire(self, clip_id: str) -> bool:
        """Take the clip's lock; ``False`` when another live process holds it."""
        if clip_id in self.held:
            return True
        final = self.path(clip_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"pid": self.pid, "host": self.host, "run_id": self.run_id, "time": time.time()}
        tmp = self.folder / f".{clip_id}.{self.pid}.{uuid.uuid4().hex[:8]}.lock"
        tmp.write_text(json.dumps(record))
        try:
            for _ in range(3):
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    if not self._break_if_stale(clip_id):
                        return False
                    continue
                self.held.add(clip_id)
                return True
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _break_if_stale(self, clip_id: str) -> bool:
        final = self.path(clip_id)
        try:
            age = time.time() - final.stat().st_mtime
        except FileNotFoundError:
            return True  # released meanwhile: try again
        record = self.owner(clip_id)
        if record is None:
            return True
        if not self.is_stale(record, age):
            return False
        # Move the stale lock aside under a unique name; only one process wins the rename.
        aside = self.folder / f".{clip_id}.stale.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return True
        aside.unlink(missing_ok=True)
        return True

    def release(self, clip_id: str) -> None:
        """Give the clip's lock back (only a lock this process holds is removed)."""
        if clip_id not in self.held:
            return
        self.held.discard(clip_id)
        record = self.owner(clip_id)
        if record and record.get("pid") == self.pid and record.get("run_id") == self.run_id:
            self.path(clip_id).unlink(missing_ok=True)

    def release_all(self) -> None:
        """Give back every lock this process holds."""
        for clip_id in list(self.held):
            self.release(clip_id)
