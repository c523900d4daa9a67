"""Never write over a file a command did not create: [`OutputGuard`][videoattr.io.overwrite.OutputGuard].

Every command that writes files (``videoattr explain``, ``run``, ``render``) asks one guard about
each path before any work, and again right before it writes:

- a path that is one of the command's inputs (a source video, a frame folder or a file inside one,
  a run's own files when rendering it) is refused, whatever way the path is spelt (links and
  ``..`` are resolved);
- a path inside an input frame folder is refused (it would change that input);
- an existing file is written over only when it is one of the command's own outputs for the same
  owner: written earlier by the same process for the same owner, or listed for that owner in the
  output folder's ledger ``OUT/.videoattr-outputs.jsonl`` (one JSON line per file a command wrote
  there: its path relative to ``OUT`` and its owner, e.g. the source video it shows). Rerunning the
  same command therefore replaces its own files; a file that a person put there, or that shows
  another video, is left alone.

A refusal is one line naming the path and what it would have destroyed
([`OverwriteError`][videoattr.io.overwrite.OverwriteError]).

Example:
    >>> guard = OutputGuard("out", inputs=["videos/right-1.mp4"])       # doctest: +SKIP
    >>> guard.claim("out/right-1.png", owner="videos/right-1.mp4")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["LEDGER", "OutputGuard", "OverwriteError"]

#: The ledger of the files written into an output folder, one JSON line per file.
LEDGER = ".videoattr-outputs.jsonl"


class OverwriteError(ValueError):
    """A command would write over a file it did not create (one line naming both)."""


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(path)).resolve()


class OutputGuard:
    """The files one command may write under its output folder ``root``.

    Args:
        root: the output folder (need not exist yet); the ledger lives in it.
        inputs: the command's inputs: video files and frame folders (a folder's files count as
            inputs too), and any other file it reads.
        option: how errors call the output folder. Default ``"--out"``.
        recognise: ``(path, owner) -> bool``, whether an existing file the ledger does not know is
            nevertheless ``owner``'s (a command's outputs written before there was a ledger: their
            own record says so). Default none.
    """

    def __init__(
        self, root: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = (), *,
        option: str = "--out", recognise: Callable[[Path, str], bool] | None = None,
    ) -> None:  # fmt: skip
        self.root = Path(root)
        self.option = option
        self.recognise = recognise
        self._root = _resolved(root)
        self._inputs: dict[Path, str] = {}
        self._input_dirs: dict[Path, str] = {}
        self.add_inputs(inputs)
        self._written: dict[Path, str] = {}
        self._ledger: dict[str, tuple[str, list[int] | None]] | None = None
        self._listings: dict[Path, set[str]] = {}

    # -- inputs -----------------------------------------------------------------------------------
    def add_inputs(self, inputs: Iterable[str | os.PathLike[str]]) -> None:
        """Count more paths as inputs."""
        for p in inputs:
            r = _resolved(p)
            if r.is_dir():
                self._input_dirs[r] = os.fspath(p)
            else:
                self._inputs[r] = os.fspath(p)

    def input_at(self, path: str | os.PathLike[str]) -> str | None:
        """The input that ``path`` is or lies inside (as it was given), else ``None``."""
        r = _resolved(path)
        if r in self._inputs:
            return self._inputs[r]
        for folder in (r, *r.parents):
            if folder in self._input_dirs:
                return self._input_dirs[folder]
        return None

    # -- the ledger -------------------------------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        """``root/.videoattr-outputs.jsonl``."""
        return self.root / LEDGER

    def _owners(self) -> dict[str, tuple[str, list[int] | None]]:
        """The ledger: relative path -> (owner, [size, mtime_ns] of the file as written)."""
        if self._ledger is None:
            self._ledger = {}
            try:
                lines = self.ledger_path.read_text(encoding="utf-8").splitlines()
            except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
                lines = []
            for line in lines:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: its file is not claimed
                if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                    continue
                owner, stat = str(entry.get("owner")), entry.get("stat")
                before = self._ledger.get(entry["path"])
                if not isinstance(stat, list):  # a claim: keeps what was written for that owner
                    stat = before[1] if before is not None and before[0] == owner else None
                self._ledger[entry["path"]] = (owner, stat)
        return self._ledger

    def _key(self, resolved: Path) -> str | None:
        try:
            return resolved.relative_to(self._root).as_posix()
        except ValueError:
            return None

    # -- checks -----------------------------------------------------------------------------------
    def _exists(self, resolved: Path) -> bool:
        folder = resolved.parent
        if folder not in self._listings:
            try:
                self._listings[folder] = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                self._listings[folder] = set()
        return resolved.name in self._listings[folder]

    def check(self, path: str | os.PathLike[str], owner: str) -> None:
        """Refuse ``path`` unless writing it destroys nothing the command did not create.

        Args:
            path: the file about to be written.
            owner: what the file belongs to (e.g. the source video it shows); an existing file is
                replaced only when it was written for the same owner.

        Raises:
            OverwriteError: ``path`` is an input or lies inside an input folder, is the ledger, or
                exists and is not the command's own output for ``owner``.
        """
        r = _resolved(path)
        source = self.input_at(r)
        if source is not None:
            where = "is" if _resolved(source) == r else "lies inside"
            raise OverwriteError(
                f"refusing to write {os.fspath(path)}: it {where} the input {source}; choose "
                f"another {self.option}"
            )
        if r.name == LEDGER:
            raise OverwriteError(f"refusing to write {os.fspath(path)}: it is videoattr's ledger")
        if not self._exists(r):
            return
        earlier = self._written.get(r)
        if earlier is None:
            key = self._key(r)
            entry = self._owners().get(key) if key is not None else None
            if entry is not None and entry[1] == _stat(r):
                earlier = entry[0]
            elif entry is not None:  # replaced since it was written: not ours any more
                earlier = None
            elif self.recognise is not None and not r.is_dir() and self.recognise(r, owner):
                earlier = owner
        if earlier == owner and not r.is_dir():
            return
        if earlier is not None:
            why = f"it holds the output for {earlier}, not for {owner}"
        elif r.is_dir():
            why = "it is an existing folder"
        else:
            why = f"it is an existing file that videoattr did not write there for {owner}"
        raise OverwriteError(
            f"refusing to write {os.fspath(path)}: {why}; move it away or choose another "
            f"{self.option}"
        )

    def claim(self, path: str | os.PathLike[str], owner: str) -> Path:
        """[`check`][videoattr.io.overwrite.OutputGuard.check] ``path``, then record it in the
        ledger as ``owner``'s before it is written; returns ``path``.

        Raises:
            OverwriteError: as for ``check``.
        """
        self.check(path, owner)
        r = _resolved(path)
        if self._written.get(r) != owner:
            self._append(r, owner, None)
            self._written[r] = owner
        self._listings.setdefault(r.parent, set()).add(r.name)
        return Path(path)

    def written(self, path: str | os.PathLike[str]) -> None:
        """Record that a claimed ``path`` now holds the command's file (its size and modification
        time go into the ledger: a file replaced later by someone else is no longer taken as
        ours)."""
        r = _resolved(path)
        owner = self._written.get(r)
        if owner is not None:
            self._append(r, owner, _stat(r))

    def _append(self, resolved: Path, owner: str, stat: list[int] | None) -> None:
        key = self._key(resolved)
        if key is None:
            return
        entry: dict[str, object] = {"path": key, "owner": owner}
        if stat is not None:
            entry["stat"] = stat
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.ledger_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        before = self._owners().get(key)
        keep = before[1] if before is not None and before[0] == owner else None
        self._owners()[key] = (owner, stat if stat is not None else keep)


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]
