"""Every example script runs as a user would run it, and the notebook executes.

Each script runs in a subprocess with a temporary working directory (so it writes nothing into the
repository), with small settings that keep it to seconds on a CPU; the test checks the exit status,
what the script prints and the files it promises to write. ``EXAMPLES`` must name every script in
``examples/`` (a new example without a test fails `test_every_example_is_tested`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
#: Scripts that are not examples to run in tests (training the demo model takes minutes).
NOT_RUN = {"train_demo_model.py"}

#: script -> (arguments with small settings, files it must write (relative to its --out), printed text)
EXAMPLES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "quickstart.py": (
        ["--out", "out", "--iterations", "10"],
        ["saliency.png", "grad_cam.png", "step.png"],
        ["mass on the moving object"],
    ),
    "methods_tour.py": (
        ["--out", "out", "--iterations", "5"],
        [
            f"{m}.png"
            for m in (
                "saliency",
                "grad_x_input",
                "integrated_gradients",
                "smoothgrad",
                "grad_cam",
                "ep2d",
                "ep3d",
                "step",
            )
        ],
        ["(2, 2, 16, 56, 56)", "sheets written to out/"],
    ),
    "explain_torchvision_video.py": (
        ["--out", "out"],
        ["input.mp4", "grad_cam.gif", "grad_cam.png"],
        ["RANDOM weights", "clip (1, 3, 16, 112, 112)", "top class:"],
    ),
    "compare_methods.py": (
        ["--clips", "2", "--iterations", "3", "--steps", "4"],
        [],
        ["deletion", "insertion", "random (chance)", "step"],
    ),
    "dataset_run.py": (
        ["--clips", "4", "--out", "out"],
        ["run/manifest.json", "videos"],
        ["4 done", "0 done, 4 skipped", "float32"],
    ),
}


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_every_example_is_tested() -> None:
    scripts = {p.name for p in EXAMPLES_DIR.glob("*.py")} - NOT_RUN
    assert scripts == set(EXAMPLES), f"examples without a test: {sorted(scripts - set(EXAMPLES))}"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs(script: str, tmp_path: Path) -> None:
    args, files, printed = EXAMPLES[script]
    proc = _run([str(EXAMPLES_DIR / script), *args], cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script} failed:\n{output[-4000:]}"
    for name in files:
        path = tmp_path / "out" / name
        assert path.exists(), f"{script} did not write {path}:\n{output[-2000:]}"
        assert path.is_dir() or path.stat().st_size > 0, f"{script} wrote an empty {path}"
    for text in printed:
        assert text in output, f"{script} did not print {text!r}:\n{output[-2000:]}"


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_help(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--help`` works and shows the docstring: every example documents how to run it.

    Run in this process as ``__main__`` (``test_example_runs`` runs each script as its own process):
    a new interpreter would add only its start-up to a call that parses the arguments and exits.
    """
    path = EXAMPLES_DIR / script
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(path), run_name="__main__")
    assert exited.value.code in (0, None)
    assert f"python examples/{script}" in " ".join(capsys.readouterr().out.split())


def _make_figures() -> Any:
    """``docs/make_figures.py`` as a module: it writes the notebook that the docs and tests use."""
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _display_outputs(nb: Any) -> dict[str, int]:
    """How many outputs of each rich kind the code cells of ``nb`` hold."""
    counts = {"image/png": 0, "gif": 0, "mp4": 0}
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            counts["image/png"] += "image/png" in data
            html = data.get("text/html", "")
            counts["gif"] += "data:image/gif;base64," in html
            counts["mp4"] += "data:video/mp4;base64," in html
    return counts


def test_committed_notebook_is_the_scripts_and_executed() -> None:
    """The committed notebook is the one ``docs/make_figures.py`` builds, saved with its outputs."""
    import nbformat

    committed = nbformat.read(EXAMPLES_DIR / "notebook.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    built = _make_figures().build_notebook()
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in built.cells
    ], "regenerate it: python docs/make_figures.py --notebook-only"
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "commit the notebook executed"
    counts = _display_outputs(committed)
    assert counts["image/png"] >= 1 and counts["gif"] >= 1 and counts["mp4"] >= 1, counts


@pytest.mark.slow
def test_notebook_executes(tmp_path: Path) -> None:
    """The notebook runs top to bottom in a fresh kernel and shows pictures and videos inline."""
    import nbformat

    nb = nbformat.read(EXAMPLES_DIR / "notebook.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    for cell in nb.cells:  # run from scratch, not from the committed outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    _make_figures().execute_notebook(nb, tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, json.dumps(errors, indent=1)[:4000]
    counts = _display_outputs(nb)
    assert counts["image/png"] >= 1 and counts["gif"] >= 1 and counts["mp4"] >= 1, counts
    assert (tmp_path / "notebook_out" / "grad_cam.png").exists()
    text = _printed(nb)
    assert "p(target | preserved):" in text and "(chance" in text
    # The committed outputs are what a fresh run prints: the same words, the same numbers up to
    # rounding (a mask on another object would change p(target | preserved) and the shares).
    committed = _printed(nbformat.read(EXAMPLES_DIR / "notebook.ipynb", as_version=4))  # type: ignore[no-untyped-call]
    assert _NUMBER.sub("#", text) == _NUMBER.sub("#", committed), (text, committed)
    fresh_numbers = [float(v) for v in _NUMBER.findall(text)]
    saved_numbers = [float(v) for v in _NUMBER.findall(committed)]
    assert fresh_numbers == pytest.approx(saved_numbers, abs=0.05), (text, committed)


_NUMBER = re.compile(r"\d+\.\d+")


def _printed(nb: Any) -> str:
    """What the code cells of ``nb`` printed on stdout."""
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def test_committed_notebook_names_no_machine_path() -> None:
    """No output of the committed notebook names a local path (a venv, a home folder)."""
    text = (EXAMPLES_DIR / "notebook.ipynb").read_text()
    for marker in ("site-packages", "/home/", "/work/", "/tmp/", "venv", "TqdmWarning"):
        assert marker not in text, marker
