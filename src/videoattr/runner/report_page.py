"""The report of a dataset run as one self-contained HTML page (``videoattr report RUN_DIR``).

The page has no external file, script, style sheet or font, and needs no server: it opens from
``file://``, offline. At the top: what ran (method, model, weights, counts, the last run's time), its
failures with their errors, the whole configuration and the versions. Below: a table of every
video (one row per explained target) with the target, the prediction, their probabilities, the
preserved probabilities, the method and the time, and links to the video's sheet, animation and
timeline (relative links, so the run folder can be moved or copied whole). A click on a column's
heading sorts by it (again: the other way); the class and outcome menus and the search box filter
the rows. Without JavaScript the table is still there, unsorted and unfiltered.

Example:
    >>> write_report("runs/kinetics-step")           # doctest: +SKIP
    PosixPath('runs/kinetics-step/report.html')
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from videoattr.runner.report import ReportRow, RunReport, collect_report

__all__ = ["REPORT_NAME", "render_report", "write_report"]

#: The page's file name in the run folder.
REPORT_NAME = "report.html"

_OUTCOMES = (
    ("", "every outcome"),
    ("done", "done"),
    ("right", "done, prediction = target"),
    ("wrong", "done, prediction \u2260 target"),
    ("failed", "failed"),
    ("missing", "missing"),
)

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #111; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1em 0 .3em; }
.summary { margin: 0 0 .6em; } .warn { color: #b00; font-weight: 600; }
details { margin: .3em 0; } summary { cursor: pointer; font-weight: 600; }
table.kv td { padding: 1px 10px 1px 0; vertical-align: top; } table.kv td:first-child { color: #555; }
pre { margin: 0; white-space: pre-wrap; }
.controls { display: flex; gap: 1.2em; align-items: center; flex-wrap: wrap; margin: 1em 0 .5em; }
#results { border-collapse: collapse; width: 100%; }
#results th, #results td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
#results th { position: sticky; top: 0; background: #f4f4f4; cursor: pointer; user-select: none;
  white-space: nowrap; }
#results th[aria-sort=ascending]::after { content: " \\25B2"; }
#results th[aria-sort=descending]::after { content: " \\25BC"; }
#results td.num { text-align: right; font-variant-numeric: tabular-nums; }
#results tr.failed td { background: #fff0f0; } #results tr.missing td { color: #777; }
#results tr.wrong td.pred { color: #b00; }
.error { color: #b00; font-family: monospace; font-size: 12px; }
.links a { margin-right: .6em; } td.video, td.links { white-space: nowrap; }
"""

_SCRIPT = """
"use strict";
(() => {
  const table = document.getElementById("results");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const texts = rows.map((row) => row.textContent.toLowerCase());
  const heads = Array.from(table.tHead.rows[0].cells);
  const classes = document.getElementById("class-filter");
  const outcomes = document.getElementById("outcome-filter");
  const search = document.getElementById("search");
  const shown = document.getElementById("shown");
  const key = (row, col, numeric) => {
    const cell = row.cells[col];
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
    if (!numeric) return raw.trim().toLowerCase();
    const n = parseFloat(raw);
    return Number.isNaN(n) ? null : n;
  };
  const sortBy = (col) => {
    const th = heads[col];
    const numeric = th.dataset.type === "number";
    const up = th.getAttribute("aria-sort") !== "ascending";
    heads.forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    const keyed = rows.map((row, i) => [key(row, col, numeric), i, row]);
    keyed.sort((a, b) => {
      const empty = (v) => v === null || v === "";
      if (empty(a[0]) !== empty(b[0])) return empty(a[0]) ? 1 : -1;  // blanks last, both ways
      if (a[0] < b[0]) return up ? -1 : 1;
      if (a[0] > b[0]) return up ? 1 : -1;
      return a[1] - b[1];
    });
    const fragment = document.createDocumentFragment();
    keyed.forEach((k) => fragment.appendChild(k[2]));
    body.appendChild(fragment);
  };
  heads.forEach((th, col) => th.addEventListener("click", () => sortBy(col)));
  const filter = () => {
    const cls = classes.value;
    const outcome = outcomes.value;
    const text = search.value.trim().toLowerCase();
    let n = 0;
    rows.forEach((row, i) => {
      const d = row.dataset;
      const ok = (!cls || d.class === cls)
        && (!outcome || d.outcome === outcome
            || (outcome === "right" && d.outcome === "done" && d.correct === "yes")
            || (outcome === "wrong" && d.outcome === "done" && d.correct === "no"))
        && (!text || texts[i].includes(text));
      row.hidden = !ok;
      if (ok) n += 1;
    });
    shown.textContent = n + " of " + rows.length + " rows shown";
  };
  classes.addEventListener("change", filter);
  outcomes.addEventListener("change", filter);
  search.addEventListener("input", filter);
  filter();
})();
"""

_COLUMNS = (
    ("#", "number"),
    ("video", "text"),
    ("label", "text"),
    ("target", "text"),
    ("p(target | clip)", "number"),
    ("prediction", "text"),
    ("p(prediction | clip)", "number"),
    ("p(target | preserved)", "number"),
    ("method", "text"),
    ("time (s)", "number"),
    ("outcome", "text"),
    ("pictures", "text"),
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _href(target: Path, page_dir: Path) -> str:
    """A link from the page to ``target``: relative, every path segment percent-encoded."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))
    return quote(Path(rel).as_posix(), safe="/")


def _num(value: float | None, digits: int) -> str:
    if value is None:
        return '<td class="num" data-value="">\u2014</td>'
    return f'<td class="num" data-value="{value!r}">{value:.{digits}f}</td>'


def _text(value: object) -> str:
    return f"<td>{_e(value)}</td>" if value not in (None, "") else '<td data-value="">\u2014</td>'


def _links(row: ReportRow, page_dir: Path) -> str:
    parts = []
    seen: Counter[str] = Counter()
    order = {"sheet": 0, "animation": 1, "video": 2, "timeline": 3}
    for kind, path in sorted(row.pictures, key=lambda kp: (order.get(kp[0], 9), kp[1].name)):
        seen[kind] += 1
        name = kind if seen[kind] == 1 else f"{kind} {seen[kind]}"
        parts.append(f'<a class="{_e(kind)}" href="{_href(path, page_dir)}">{_e(name)}</a>')
    if row.failure is not None:
        parts.append(f'<a class="record" href="{_href(row.failure, page_dir)}">error record</a>')
    if row.source and Path(row.source).is_file():
        parts.append(f'<a class="source" href="{Path(row.source).resolve().as_uri()}">source</a>')
    return f'<td class="links">{"".join(parts) or chr(0x2014)}</td>'


def _row(row: ReportRow, page_dir: Path) -> str:
    correct = {True: "yes", False: "no", None: ""}[row.correct]
    classes = [row.status] + (["wrong"] if row.correct is False else [])
    source = Path(row.source).name if row.source else ""
    video = f'<td class="video">{_e(row.id)}'
    video += (f"<br><small>{_e(source)}</small>" if source else "") + "</td>"
    preserved = ", ".join(f"{p:.3f}" for p in row.preserved)
    kept = (
        f'<td class="num" data-value="{row.preserved[0]!r}">{_e(preserved)}</td>'
        if row.preserved
        else '<td class="num" data-value="">\u2014</td>'
    )
    outcome = _e(row.status)
    if row.error:
        outcome += f'<div class="error">{_e(row.error)}</div>'
    index = "" if row.index is None else str(row.index)
    prediction = _text(row.prediction).replace("<td", '<td class="pred"', 1)
    return (
        f'<tr class="{" ".join(classes)}" data-class="{_e(row.target or "")}" '
        f'data-outcome="{_e(row.status)}" data-correct="{correct}">'
        f'<td class="num" data-value="{_e(index)}">{_e(index)}</td>{video}{_text(row.label)}'
        f"{_text(row.target)}{_num(row.target_probability, 3)}"
        f"{prediction}"
        f"{_num(row.prediction_probability, 3)}{kept}{_text(row.method)}"
        f'{_num(row.seconds, 2)}<td data-value="{_e(row.status)}">{outcome}</td>'
        f"{_links(row, page_dir)}</tr>"
    )


def _kv(items: Iterable[tuple[str, Any]]) -> str:
    cells = []
    for key, value in items:
        shown = value if isinstance(value, str) else json.dumps(value, indent=1, default=str)
        cells.append(f"<tr><td>{_e(key)}</td><td><pre>{_e(shown)}</pre></td></tr>")
    return f'<table class="kv">{"".join(cells)}</table>'


def _header(report: RunReport, page_dir: Path) -> str:
    c = report.config
    counts = report.counts
    title = report.root.resolve().name or str(report.root)
    what = f"method {_e(c.get('method', '?'))} on model {_e(c.get('model', '?'))}"
    if c.get("weights") is not None:
        what += f" (weights: {_e(c.get('weights'))})"
    summary = (
        f"{what} &middot; {counts['total']} videos: {counts['done']} done, "
        f"{counts['failed']} failed, {counts['missing']} missing"
    )
    last = report.last_run
    if isinstance(last, Mapping) and isinstance(last.get("seconds"), (int, float)):
        summary += f" &middot; last run {float(last['seconds']):.1f} s"
        if isinstance(last.get("world_size"), int):
            summary += f" over {last['world_size']} process(es)"
    parts = [f"<h1>Run report: {_e(title)}</h1>", f'<p class="summary">{summary}</p>']
    if c.get("weights") == "random":
        parts.append(
            '<p class="warn">RANDOM WEIGHTS: the model is untrained, these maps explain noise</p>'
        )
    if report.pictures is None:
        parts.append(
            '<p class="warn">No pictures yet: run <code>videoattr render '
            f"{_e(report.root)}</code>, then this command again, to link them.</p>"
        )
    failed = [r for r in report.rows if r.status == "failed"]
    if failed:
        items = "".join(
            f'<li><b>{_e(r.id)}</b>: <span class="error">{_e(r.error or "no error recorded")}</span>'
            + (f' (<a href="{_href(r.failure, page_dir)}">record</a>)' if r.failure else "")
            + "</li>"
            for r in failed
        )
        parts.append(
            f'<section id="failures"><h2>Failures ({len(failed)})</h2><ul>{items}</ul></section>'
        )
    if report.unreadable:
        items = "".join(f"<li>{_e(u)}</li>" for u in report.unreadable)
        parts.append(
            f'<section id="unreadable"><h2>Unreadable results</h2><ul>{items}</ul></section>'
        )
    parts.append(f'<details id="config"><summary>Configuration</summary>{_kv(c.items())}</details>')
    if report.rounding:
        parts.append(
            '<details id="rounding"><summary>Rounding settings</summary>'
            f"{_kv(report.rounding.items())}</details>"
        )
    parts.append(
        f'<details id="versions" open><summary>Versions</summary>{_kv(report.versions.items())}</details>'
    )
    return "\n".join(parts)


def _controls(rows: list[ReportRow]) -> str:
    counts = Counter(r.target for r in rows if r.target)
    options = ['<option value="">every class</option>'] + [
        f'<option value="{_e(name)}">{_e(name)} ({n})</option>'
        for name, n in sorted(counts.items())
    ]
    outcomes = "".join(f'<option value="{v}">{_e(t)}</option>' for v, t in _OUTCOMES)
    return (
        '<div class="controls">'
        f'<label>class <select id="class-filter">{"".join(options)}</select></label>'
        f'<label>outcome <select id="outcome-filter">{outcomes}</select></label>'
        '<label>search <input id="search" type="search" placeholder="id, class, error..."></label>'
        f'<span id="shown">{len(rows)} of {len(rows)} rows shown</span></div>'
    )


def render_report(report: RunReport, page_dir: str | Path) -> str:
    """The report page's HTML.

    Args:
        report: what to show, from [`collect_report`][videoattr.runner.report.collect_report].
        page_dir: the folder the page will be written to (links are relative to it).

    Returns:
        The whole page, one string.
    """
    here = Path(page_dir)
    rows = list(report.rows)
    heads = "".join(f'<th data-type="{t}" scope="col">{_e(name)}</th>' for name, t in _COLUMNS)
    body = "\n".join(_row(r, here) for r in rows)
    title = report.root.resolve().name or str(report.root)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>videoattr report: {_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        f"<header>{_header(report, here)}</header>\n<main>{_controls(rows)}\n"
        f'<table id="results"><thead><tr>{heads}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'
        f"</main>\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def write_report(
    run_dir: str | Path, out: str | Path | None = None, *, pictures: str | Path | None = None
) -> Path:
    """Write the report page of a run (atomically: a reader never sees half a page).

    Args:
        run_dir: the output folder of ``videoattr run``.
        out: the page's path; default ``run_dir/report.html``.
        pictures: where ``videoattr render`` wrote the pictures; default ``run_dir/pictures``.

    Returns:
        The page's path.

    Raises:
        FileNotFoundError: ``run_dir`` holds no ``run.json``.
        ValueError: the run's records are not valid.
    """
    report = collect_report(run_dir, pictures)
    page = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    page.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(report, page.parent)
    tmp = page.with_name(f".{page.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, page)
    finally:
        tmp.unlink(missing_ok=True)
    return page
