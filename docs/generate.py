"""Write into the docs what the code knows: the methods, their number and defaults, the CLI defaults.

Run from the repository root::

    python docs/generate.py           # rewrite the generated parts of the pages
    python docs/generate.py --check   # exit 1, naming the pages, when one is out of date

A generated part sits between ``<!-- gen:KEY -->`` and ``<!-- /gen -->`` in a page (inline, or over
several lines); everything else is written by hand. ``KEY`` names one function of `GENERATORS`.
`tests/test_docs_generated.py` runs the check, so a changed default or a new method fails the tests
until the pages are regenerated. The pictures come from ``docs/make_figures.py``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The pages with generated parts.
PAGES = [
    "docs/index.md",
    "docs/getting-started.md",
    "docs/cli.md",
    "docs/methods/index.md",
]
_PART = re.compile(r"(<!-- gen:([a-z0-9-]+) -->)(.*?)(<!-- /gen -->)", re.DOTALL)

#: Memory of one forward per clip of ``r2plus1d_18`` at ``16 x 112 x 112`` (float32, beyond the
#: model), measured by ``benchmarks/method_costs.py --memory``: with a backward pass, without one.
GB_PER_CLIP = {"backward": 1.18, "forward": 0.10}
_FIXED_GB = 0.1


def _parser(command: str) -> argparse.ArgumentParser:
    from videoattr.cli import build_parser

    sub = build_parser()._subparsers
    assert sub is not None
    for action in sub._group_actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict) and command in choices:
            found: argparse.ArgumentParser = choices[command]
            return found
    raise KeyError(command)


def _default(command: str, option: str) -> Any:
    for action in _parser(command)._actions:
        if option in action.option_strings:
            return action.default
    raise KeyError(option)


def method_count() -> str:
    from videoattr.methods import method_names

    return str(len(method_names()))


def method_list() -> str:
    from videoattr.methods import method_names

    return ", ".join(f"`{n}`" for n in method_names())


def cli_method_table() -> str:
    from videoattr.methods import method_info, method_names
    from videoattr.methods.registry import normalize_name

    rows = ["", "| canonical | kind | also accepted |", "|---|---|---|"]
    for name in method_names():
        info = method_info(name)
        aliases = sorted({normalize_name(a) for a in info.aliases} - {name})
        shown = ", ".join(f"`{a}`" for a in aliases) or "—"
        rows.append(f"| `{name}` | {info.kind.replace('_', '-')} | {shown} |")
    return "\n".join(rows) + "\n"


def explain_default_method() -> str:
    return f"`{_default('explain', '--method')}`"


def demo_iterations() -> str:
    from videoattr.methods.extremal.settings import FAST_ITERATIONS, PAPER_ITERATIONS

    preset = _default("demo", "--preset")
    return str(FAST_ITERATIONS if preset == "fast" else PAPER_ITERATIONS)


def demo_options() -> str:
    parts = []
    for action in _parser("demo")._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        default = action.default
        if flag == "--iterations":
            default = f"the preset's, {demo_iterations()} for `fast`"
        elif flag == "--optimizer":
            default = "the preset's, `adam` for `fast`"
        if default is None or default is False:
            parts.append(f"`{flag}`")
        elif isinstance(default, list):
            parts.append(f"`{flag}` (default `{' '.join(str(v) for v in default)}`)")
        elif isinstance(default, str) and default.startswith("the "):
            parts.append(f"`{flag}` (default: {default})")
        else:
            parts.append(f"`{flag}` (default `{default}`)")
    return ", ".join(parts)


def _memory(bound: int | None, kind: str) -> str:
    if bound is None:
        return "all rows of a call in one forward (1 clip x 1 area: about 1.3 GB)"
    gb = _FIXED_GB + bound * GB_PER_CLIP[kind]
    return f"about {gb:.1f} GB"


def defaults_table() -> str:
    from videoattr.methods import method_info, method_names

    keys = ("steps", "n", "max_iter", "window", "span", "preset")
    rows = [
        "",
        "| method | main defaults | default `max_batch_size` | one forward on r2plus1d_18, 16 × 112 × 112 |",
        "|---|---|---|---|",
    ]
    for name in method_names():
        info = method_info(name)
        defaults = info.defaults()
        paper = defaults.get("preset") == "paper"  # its iterations are said in words
        shown_keys = [
            k
            for k in keys
            if k in defaults and defaults[k] is not None and not (paper and k == "max_iter")
        ]
        main = ", ".join(f"`{k}={defaults[k]!r}`" for k in shown_keys) or "—"
        if paper:
            iterations = defaults.get("max_iter", _paper_iterations())
            main += f" ({iterations} iterations; the command line runs `fast`)"
        bound = defaults.get("max_batch_size")
        kind = "backward" if info.kind in ("gradient", "perturbation") else "forward"
        what = "clips with the backward pass" if kind == "backward" else "clips"
        if info.kind == "perturbation":  # rows: clip x area x target, each with its backward pass
            what = "rows (clip × area × target) with the backward pass"
        shown = f"`{bound}` {what}" if bound is not None else "`None`"
        memory = _memory(bound, kind)
        if info.kind == "attention":  # a CNN has no attention: the cost is the transformer's own
            shown = f"`{bound}` clips"
            memory = "no attention in a CNN; on a transformer about one forward + backward"
        rows.append(f"| `{name}` | {main} | {shown} | {memory} |")
    return "\n".join(rows) + "\n"


def _paper_iterations() -> int:
    from videoattr.methods.extremal.settings import PAPER_ITERATIONS

    return PAPER_ITERATIONS


def max_batch_size_default() -> str:
    from videoattr.methods._memory import FORWARD_BATCH, GRADIENT_BATCH

    return (
        f"the method's own bound: {GRADIENT_BATCH} clips per forward for the gradient methods, "
        f"{FORWARD_BATCH} for the CAM family, occlusion and RISE, {GRADIENT_BATCH} rows (clip x "
        "area x target) for the perturbation methods (see [methods](methods/index.md#memory))"
    )


GENERATORS: dict[str, Callable[[], str]] = {
    "method-count": method_count,
    "method-list": method_list,
    "cli-method-table": cli_method_table,
    "explain-default-method": explain_default_method,
    "demo-iterations": demo_iterations,
    "demo-options": demo_options,
    "defaults-table": defaults_table,
    "max-batch-size-default": max_batch_size_default,
}


def render(text: str) -> str:
    """``text`` with every generated part rewritten."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(2)
        if key not in GENERATORS:
            raise KeyError(f"unknown generated part {key!r}; known: {sorted(GENERATORS)}")
        return f"{match.group(1)}{GENERATORS[key]()}{match.group(4)}"

    return _PART.sub(fill, text)


def stale_pages(root: Path = ROOT) -> list[str]:
    """The pages whose generated parts differ from what the code says now."""
    return [p for p in PAGES if render((root / p).read_text()) != (root / p).read_text()]


def main() -> int:
    """Rewrite the pages, or with ``--check`` say which are out of date (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args()
    stale = stale_pages()
    if args.check:
        if stale:
            print(f"out of date: {', '.join(stale)}; run python docs/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for page in stale:
        path = ROOT / page
        path.write_text(render(path.read_text()))
        print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
