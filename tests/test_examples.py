"""Every example script runs as a user would run it, and the notebook executes.

Each script runs in a subprocess with a temporary working directory (so it writes nothing into the
repository), with small settings that keep it to seconds on a CPU; the test checks the exit status,
what the script prints and the files it promises to write. ``EXAMPLES`` must name every script in
``examples/`` (a new example without a test fails :func:`test_every_example_is_tested`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
        ["4 done", "0 done, 4 skipped", "float16"],
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
def test_example_help(script: str, tmp_path: Path) -> None:
    """``--help`` works and shows the docstring: every example documents how to run it."""
    proc = _run([str(EXAMPLES_DIR / script), "--help"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"python examples/{script}" in " ".join(proc.stdout.split())


@pytest.mark.slow
def test_notebook_executes(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(EXAMPLES_DIR / "notebook.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, json.dumps(errors, indent=1)[:4000]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook should show at least one picture inline"
    assert (tmp_path / "notebook_out" / "grad_cam.png").exists()
