"""The README's and the docs' code blocks work exactly as written, as a new user would run them.

For each page, the fenced ```` ```python ```` blocks run in order as one script (one session, as a reader
pasting them into one interpreter would), and every ```` ```bash ```` command runs in a shell; both in a
fresh temporary directory. Blocks fenced as ``text`` (shell sessions, outputs, sketches that need
weights or data) are not run. Two kinds of commands are skipped, each for a stated reason:

* ``pip install ...``: the package under test is already installed (CI installs it exactly as the
  README says before running the tests);
* ``python -m pytest ...``: the test suite itself (CI runs that command; running it here would recurse).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Pages whose python blocks are run: the README, getting started, and every method page with an example.
PAGES = [
    "README.md",
    "docs/getting-started.md",
    *sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "docs" / "methods").glob("*.md")
        if "```python" in p.read_text()
    ),
]
SKIPPED_COMMANDS = (
    (re.compile(r"^(python -m )?pip install\b"), "the package is already installed"),
    (re.compile(r"^python -m pytest\b"), "the test suite itself"),
)
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of ``language`` in Markdown ``text``, in order."""
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1) == language]


def shell_commands(block: str) -> list[str]:
    """The commands of a bash block to run: ``&&`` chains split, skipped commands left out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        for command in (c.strip() for c in line.split("&&")):
            if not any(pattern.match(command) for pattern, _ in SKIPPED_COMMANDS):
                commands.append(command)
    return commands


def _env() -> dict[str, str]:
    # The interpreter running the tests provides `python` and the `videoattr` command.
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))


def test_code_blocks_are_found() -> None:
    readme = (ROOT / "README.md").read_text()
    assert code_blocks(readme, "python"), "README.md should have a Python example"
    assert code_blocks(readme, "bash"), "README.md should have install commands"
    start = (ROOT / "docs" / "getting-started.md").read_text()
    assert len(code_blocks(start, "python")) >= 3
    assert len(PAGES) >= 8, PAGES  # README, getting started, six method pages
    assert shell_commands("pip install -e . && videoattr demo --out x") == [
        "videoattr demo --out x"
    ]
    assert shell_commands('pip install -e ".[dev]"\npython -m pytest -q') == []


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page: str, tmp_path: Path) -> None:
    blocks = code_blocks((ROOT / page).read_text(), "python")
    assert blocks, f"{page} has no python block"
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(blocks))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"the python blocks of {page} fail when run as written:\n{proc.stderr[-4000:]}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_bash_blocks_run(page: str, tmp_path: Path) -> None:
    commands = [
        c for b in code_blocks((ROOT / page).read_text(), "bash") for c in shell_commands(b)
    ]
    assert commands, f"{page} has no command to run"
    for command in commands:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (
            f"`{command}` from {page} fails as written:\n{(proc.stdout + proc.stderr)[-4000:]}"
        )


def test_api_reference_shows_each_methods_real_defaults() -> None:
    """The docs' Griffe extension gives every class with a declared signature its real keywords.

    The reference is the runtime class itself: the extremal methods take their settings as
    ``**options`` and declare them, at each class's own defaults, in ``cls.__signature__``; the API
    reference must show exactly those keywords and defaults.
    """
    import importlib
    import inspect

    griffe = pytest.importorskip("griffe")
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from griffe_defaults import RealDefaults
    finally:
        sys.path.remove(str(ROOT / "docs"))
    pkg = griffe.load(
        "videoattr",
        search_paths=[str(ROOT / "src")],
        extensions=griffe.load_extensions(RealDefaults()),
    )
    shown_by_class = {}
    for path in (
        "methods.extremal.attributors.ExtremalPerturbation2D",
        "methods.extremal.attributors.ExtremalPerturbation3D",
        "methods.extremal.attributors.STEP",
    ):
        static = pkg[path]
        module, name = f"videoattr.{path}".rsplit(".", 1)
        runtime = getattr(importlib.import_module(module), name)
        shown = {p.name: str(p.default) for p in static.parameters if p.name != "self"}
        expected = {
            p.name: "None" if p.default is p.empty else repr(p.default)
            for p in inspect.signature(runtime).parameters.values()
        }
        assert {k: v for k, v in shown.items() if k != "model"} == {
            k: v for k, v in expected.items() if k != "model"
        }, path
        assert "max_iter" in shown and "early_stop" in shown
        shown_by_class[name] = shown
    assert shown_by_class["STEP"]["reward_weight"] == "1.0"
    assert shown_by_class["ExtremalPerturbation2D"]["reward_weight"] == "100.0"
