"""The import graph of ``src/videoattr``: no cycles, and the command line is a leaf.

Every ``import`` / ``from ... import`` in the package is read with :mod:`ast`, at module level and
inside functions and classes (imports under ``if TYPE_CHECKING:`` are skipped: they never run).
An edge goes from the importing module to each module an import statement runs: ``from
videoattr.zoo import demo`` -> ``videoattr.zoo`` and ``videoattr.zoo.demo``; ``from videoattr.core
import Attributor`` -> ``videoattr.core``. The tests fail on any cycle, and on any import of
``videoattr.cli`` from a module outside ``videoattr.cli*`` and ``videoattr.__main__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import videoattr

ROOT = Path(videoattr.__file__).resolve().parent
PACKAGE = "videoattr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST, type_only: bool = False) -> Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks (kept when
    ``type_only``)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not type_only and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imports(
    module: str, path: Path, modules: dict[str, Path], type_only: bool = False
) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _runtime_nodes(tree, type_only):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                keep = len(base) - node.level + (1 if is_package else 0)
                origin = ".".join(base[:keep] + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" for alias in node.names] or [origin]
            targets.append(origin)
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    found.add(resolved)
    return found


def import_graph(type_only: bool = False) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for every module of the package (with the imports under
    ``if TYPE_CHECKING:`` when ``type_only``)."""
    modules = _modules()
    return {name: _imports(name, path, modules, type_only) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _is_cli(module: str) -> bool:
    return module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli.")


def test_the_graph_sees_module_and_function_level_imports() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.zoo.adapter" in graph
    # module level: the adapter imports the io preprocessing
    assert f"{PACKAGE}.io.preprocessing" in graph[f"{PACKAGE}.zoo.adapter"]
    # a synthetic function-level import and a TYPE_CHECKING import are told apart
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from videoattr import zoo\n"
        "def f():\n    from videoattr.io import reading\n"
    )
    seen = {n.module for n in _runtime_nodes(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    assert seen == {"typing", "videoattr.io"}


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycles() -> None:
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles in src/videoattr:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_cycles_through_type_only_imports() -> None:
    """Imports under ``if TYPE_CHECKING:`` form no cycle either (bar the root package's lazy names,
    which name every subpackage for type checkers by design)."""
    graph = import_graph(type_only=True)
    assert "videoattr.zoo" in graph["videoattr"]  # the type-only imports are in the graph
    graph["videoattr"] = set()
    cycles = _cycles(graph)
    assert not cycles, "type-only import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_only_the_command_line_imports_the_command_line() -> None:
    graph = import_graph()
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not _is_cli(module) and module != f"{PACKAGE}.__main__"
        for target in targets
        if _is_cli(target)
    )
    assert not offenders, "the command line must be a leaf:\n" + "\n".join(offenders)


@pytest.mark.parametrize("package", ["io", "zoo", "datasets"])
def test_io_zoo_and_datasets_take_part_in_no_cycle(package: str) -> None:
    prefix = f"{PACKAGE}.{package}"
    involved = [c for c in _cycles(import_graph()) if any(m.startswith(prefix) for m in c)]
    assert not involved, f"{prefix} is part of import cycles: {involved}"


def test_import_videoattr_loads_no_subpackage() -> None:
    import subprocess
    import sys

    code = (
        "import sys, videoattr\n"
        "print(sorted(m for m in sys.modules if m.startswith('videoattr')))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "['videoattr', 'videoattr._version']"
    assert out[1] == "False"


def test_lazy_names_resolve_and_dir_is_complete() -> None:
    import importlib

    for name in videoattr.__all__:
        value = getattr(videoattr, name)
        assert value is not None, name
    assert set(videoattr.__all__) <= set(dir(videoattr))
    assert videoattr.zoo is importlib.import_module("videoattr.zoo")
    assert videoattr.runner.run is importlib.import_module("videoattr.runner").run
    assert videoattr.GradCAM3D is importlib.import_module("videoattr.methods").GradCAM3D
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        videoattr.nope  # noqa: B018
