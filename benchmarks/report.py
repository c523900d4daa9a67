"""How long the report page of a large run takes to write and to open (``videoattr report``).

Builds run folders of ``--results`` videos (default 1000) and of a tenth of that (the baseline) as
``videoattr run`` and ``videoattr render`` leave them (result files written by the runner's own store,
a manifest, 1 video in 20 failed, a sheet and an animation per done video), without a model. Then,
for each: the seconds to write the page (reading every result's record, building the HTML, writing
it), the page's size, and in the system's headless Chromium (driven over its DevTools pipe, as the
tests do) the seconds from navigation to the load event (median of ``--repeats``), and the
milliseconds a sort (a click on a numeric column's heading) and a filter (the outcome menu) take in
the page's script. Ratios are against the baseline measured in the same run.

Usage::

    python benchmarks/report.py                  # 1000 results, baseline 100
    python benchmarks/report.py --results 5000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' run builder and browser

from tests.report.chromium import Browser, find_browser
from tests.report.runs import CLASSES, Video, make_run
from videoattr.runner.report_page import write_report

SORT = """(() => {
  const th = Array.from(document.querySelectorAll('#results thead th'))
    .find((h) => h.textContent === 'p(target | clip)');
  const t = performance.now(); th.click(); return performance.now() - t; })()"""
FILTER = """(() => {
  const s = document.getElementById('outcome-filter'); const t = performance.now();
  s.value = 'failed'; s.dispatchEvent(new Event('change'));
  const ms = performance.now() - t; s.value = ''; s.dispatchEvent(new Event('change'));
  return ms; })()"""


def videos(n: int) -> list[Video]:
    out = []
    for i in range(n):
        target = CLASSES[i % len(CLASSES)]
        if i % 20 == 7:
            out.append(Video(f"{target}-{i:05d}", status="failed", error="VideoReadError: damaged"))
            continue
        p = ((i * 37) % 100) / 100
        prediction = target if i % 3 else CLASSES[(i + 1) % len(CLASSES)]
        out.append(
            Video(f"{target}-{i:05d}", target=target, target_prob=p, prediction=prediction,
                  prediction_prob=max(p, 0.5), seconds=0.5 + (i % 11))
        )  # fmt: skip
    return out


def measure(n: int, folder: Path, browser: Browser | None, repeats: int) -> dict[str, float]:
    start = time.perf_counter()
    run = make_run(folder / f"run{n}", videos(n))
    made = time.perf_counter() - start
    start = time.perf_counter()
    page = write_report(run)
    row: dict[str, float] = {
        "results": n,
        "make run (s)": made,
        "write page (s)": time.perf_counter() - start,
        "page (KB)": page.stat().st_size / 1024,
    }
    if browser is not None:
        url = page.resolve().as_uri()
        opens = [browser.open(url) for _ in range(repeats)]
        row["open (s)"] = statistics.median(opens)
        row["sort (ms)"] = float(browser.evaluate(SORT))
        row["filter (ms)"] = float(browser.evaluate(FILTER))
        shown = browser.evaluate("document.querySelectorAll('#results tbody tr').length")
        assert shown == n, f"the page shows {shown} rows, not {n}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--results", type=int, default=1000, help="videos in the run (default 1000)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="page opens per size (default 3)")
    args = parser.parse_args()
    sizes = [max(1, args.results // 10), args.results]
    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (timings scale with it)"
    )
    exe = find_browser()
    if exe is None:
        print("no Chromium found (apt-get install -y chromium): only the page's writing is timed")
    with tempfile.TemporaryDirectory() as tmp:
        browser = Browser.start(exe) if exe else None
        try:
            if browser is not None:
                blank = statistics.median(browser.open("about:blank") for _ in range(args.repeats))
                print(f"Chromium: {exe}; about:blank opens in {blank * 1000:.1f} ms")
            rows = [measure(n, Path(tmp), browser, args.repeats) for n in sizes]
        finally:
            if browser is not None:
                browser.close()
    keys = [k for k in rows[0] if k != "results"]
    print(f"{'results':>8} " + " ".join(f"{k:>15}" for k in keys))
    for row in rows:
        print(f"{int(row['results']):>8} " + " ".join(f"{row[k]:>15.3f}" for k in keys))
    base, big = rows
    ratios = " ".join(f"{big[k] / base[k] if base[k] else float('nan'):>15.2f}" for k in keys)
    print(f"{'ratio':>8} {ratios}   ({sizes[1]} results against {sizes[0]})")


if __name__ == "__main__":
    main()
