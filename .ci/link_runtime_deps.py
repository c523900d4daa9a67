"""Expose an installed package's runtime dependencies to another venv without copying them.

Usage: python .ci/link_runtime_deps.py WHEEL DEST

Run with the interpreter of an environment that already holds the dependencies (the CI venv). It
reads the wheel's ``Requires-Dist`` (without extras), follows every requirement through the installed
distributions' own metadata (markers and extras evaluated for this interpreter) and symlinks the
top-level files and folders of exactly that closure into DEST. A ``.pth`` file pointing at DEST then
lets a fresh venv import the runtime dependencies, and nothing else: a module the package imports
without declaring it (a test-only or optional extra) is missing there, as it would be for a user.

This keeps the wheel check honest while costing no disk: a second copy of a CUDA build of torch is
several GB, which a CI machine may not have.
"""

from __future__ import annotations

import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode()
    message = Parser().parsestr(text)
    return [Requirement(r) for r in message.get_all("Requires-Dist") or []]


def applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in (extras or {""}))


def closure(roots: list[Requirement]) -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    seen_extras: dict[str, set[str]] = {}
    todo = [(r, set[str]()) for r in roots]
    while todo:
        req, parent_extras = todo.pop()
        if not applies(req, parent_extras):
            continue
        key = canonicalize_name(req.name)
        extras = set(req.extras)
        if key in found and extras <= seen_extras[key]:
            continue
        try:
            dist = found.get(key) or metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            sys.exit(f"link_runtime_deps: {req} is required but not installed in {sys.prefix}")
        version = dist.version
        if not req.specifier.contains(version, prereleases=True):
            sys.exit(f"link_runtime_deps: {req} is required but {req.name} {version} is installed")
        found[key] = dist
        seen_extras[key] = seen_extras.get(key, set()) | extras
        for sub in dist.requires or []:
            todo.append((Requirement(sub), extras))
    return found


def main() -> None:
    wheel, dest = Path(sys.argv[1]), Path(sys.argv[2])
    dest.mkdir(parents=True, exist_ok=True)
    dists = closure(wheel_requirements(wheel))
    linked = 0
    for dist in dists.values():
        tops = {
            Path(f).parts[0]
            for f in dist.files or []
            if Path(f).parts[0] not in ("..", "__pycache__")
        }
        for top in sorted(tops):
            source = Path(str(dist.locate_file(top)))
            target = dest / top
            if source.exists() and not target.exists():
                target.symlink_to(source)
                linked += 1
    names = ", ".join(sorted(d.metadata["Name"] for d in dists.values()))
    print(f"linked {linked} entries of {len(dists)} runtime distributions: {names}")


if __name__ == "__main__":
    main()
