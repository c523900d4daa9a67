"""Import cost of videoattr next to torch's: each statement in fresh interpreters, median of 5.

Run: ``python benchmarks/import_time.py [--repeats 5]``. The goal (issue 12): ``import videoattr``
costs at most 0.5 s more than ``import torch``. Lines printed: the median wall time of a fresh
``python -c STATEMENT`` (interpreter start included, so the difference between lines is what
the extra imports cost), and the difference to ``import torch``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

STATEMENTS: tuple[tuple[str, str], ...] = (
    ("python only", "pass"),
    ("import torch", "import torch"),
    ("import videoattr", "import videoattr"),
    ("import torch, videoattr", "import torch, videoattr"),
    ("videoattr.GradCAM3D (methods)", "import videoattr; videoattr.GradCAM3D"),
    ("videoattr.io", "import videoattr.io"),
    ("videoattr.zoo", "import videoattr.zoo"),
    ("everything in __all__", "from videoattr import *"),
)


def median_seconds(statement: str, repeats: int) -> float:
    """Median wall time of ``python -c statement`` in ``repeats`` fresh interpreters."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters per statement")
    args = parser.parse_args()
    results = {label: median_seconds(code, args.repeats) for label, code in STATEMENTS}
    torch_s = results["import torch"]
    print(f"{'statement':32s} {'median s':>9s} {'vs torch':>9s}")
    for label, seconds in results.items():
        print(f"{label:32s} {seconds:9.3f} {seconds - torch_s:+9.3f}")
    extra = results["import torch, videoattr"] - torch_s
    verdict = "meets" if extra <= 0.5 else "misses"
    print(f"import videoattr after torch costs {extra:+.3f} s: {verdict} the +0.5 s goal")


if __name__ == "__main__":
    main()
