"""The docs say what the code does: generated parts are up to date, stated defaults are the code's."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from videoattr.cli import build_parser
from videoattr.cli.methods import DEFAULT_PRESET
from videoattr.methods import method_names
from videoattr.pipeline import SHEET_FRAMES

ROOT = Path(__file__).resolve().parents[1]


def _generate() -> Any:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_parts_are_up_to_date() -> None:
    assert _generate().stale_pages() == [], "run: python docs/generate.py"


def test_the_home_page_counts_every_registered_method() -> None:
    text = (ROOT / "docs" / "index.md").read_text()
    count = re.search(r"<!-- gen:method-count -->(\d+)<!-- /gen --> methods", text)
    assert count is not None and int(count.group(1)) == len(method_names())


def test_a_stale_part_is_found(tmp_path: Path) -> None:
    gen = _generate()
    for page in gen.PAGES:
        target = tmp_path / page
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / page).read_text())
    page = tmp_path / "docs" / "index.md"
    page.write_text(re.sub(r"(gen:method-count -->)\d+", r"\g<1>7", page.read_text()))
    assert gen.stale_pages(tmp_path) == ["docs/index.md"]


@pytest.mark.parametrize(
    "wrong",
    ["Seven methods", "never downloads", "(default 300)", "the default, 300", "default: step"],
)
def test_no_page_repeats_a_statement_the_code_contradicts(wrong: str) -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    pages += sorted((ROOT / "src" / "videoattr").rglob("*.py"))
    found = [
        str(p.relative_to(ROOT))
        for p in pages
        if p.name != "changelog.md" and wrong in p.read_text()
    ]
    assert not found, f"{wrong!r} in {found}"


#: Options whose parser default is ``None`` because the command decides: what it decides.
_EFFECTIVE = {
    "--preset": DEFAULT_PRESET,
    "--fps": 8,
    "--frame-step": 1,
    "--short-video": "pad",
    "--sheet-frames": SHEET_FRAMES,
}


def test_the_cli_page_states_the_parsers_defaults() -> None:
    """Each row of the `explain` options table whose default is a literal names the parser's."""
    parser = next(
        a.choices["explain"]
        for a in build_parser()._subparsers._group_actions  # type: ignore[union-attr]
        if isinstance(getattr(a, "choices", None), dict)
    )
    defaults = {s: a.default for a in parser._actions for s in a.option_strings}
    text = (ROOT / "docs" / "cli.md").read_text()
    checked = 0
    for flag, stated in re.findall(
        r"^\| `(--[a-z-]+)[^|]*\| (?:<!-- gen:[a-z-]+ -->)?`([^`]+)`", text, re.M
    ):
        if flag not in defaults:
            continue
        code = _EFFECTIVE.get(flag, defaults[flag])
        if isinstance(code, list):
            code = " ".join(str(v) for v in code)
        assert stated == str(code), (
            f"docs/cli.md says {flag} defaults to {stated!r}; it is {code!r}"
        )
        checked += 1
    assert checked >= 6
