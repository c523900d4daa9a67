"""``videoattr report``: what the page of a run holds, that it needs nothing outside itself, and
that its links point at the run's files (the browser tests check the same in Chromium)."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from tests.report.runs import Video, make_run, sample_videos
from videoattr.cli import main
from videoattr.runner.report import collect_report, picture_index
from videoattr.runner.report_page import render_report, write_report
from videoattr.runner.store import ResultStore


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of the table's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run", sample_videos(), timeline=True)


def test_rows_counts_and_pictures(run: Path) -> None:
    report = collect_report(run)
    assert report.counts == {"total": 6, "done": 4, "failed": 1, "missing": 1}
    rows = {r.id: r for r in report.rows}
    assert list(rows) == ["left-0", "up-1", "left-2", "broken 3", "down-4", "later-5"]
    up = rows["up-1"]
    assert (up.target, up.prediction, up.correct) == ("up", "down", False)
    assert up.target_probability == pytest.approx(0.30) and up.seconds == 2.0
    assert up.preserved == pytest.approx((0.15, 0.10))
    assert {kind for kind, _ in up.pictures} == {"sheet", "animation", "timeline"}
    assert all(path.is_file() for _, path in up.pictures)
    broken = rows["broken 3"]
    assert broken.status == "failed" and broken.error == 'ValueError: <b>bad</b> & "odd" file'
    assert broken.failure is not None and broken.failure.is_file()
    assert rows["later-5"].status == "missing" and rows["later-5"].pictures == ()
    assert report.versions["videoattr (run)"] == "0.1.0"
    assert report.config["method"] == "step"


def test_several_targets_give_one_row_each_with_its_own_pictures(tmp_path: Path) -> None:
    several = Video("clip-0", several=(("tai chi", 0.4), ("playing cello", 0.2)))
    run = make_run(tmp_path / "run", [several, Video("clip-0.x")])  # ids that share a beginning
    rows = collect_report(run).rows
    assert [(r.id, r.target) for r in rows] == [
        ("clip-0", "tai chi"),
        ("clip-0", "playing cello"),
        ("clip-0.x", "left"),
    ]
    assert sorted(p.name for _, p in rows[0].pictures) == [
        "clip-0.tai chi.gif",
        "clip-0.tai chi.png",
    ]
    assert sorted(p.name for _, p in rows[1].pictures)[0] == "clip-0.playing cello.gif"
    assert sorted(p.name for _, p in rows[2].pictures) == ["clip-0.x.gif", "clip-0.x.png"]
    # A picture goes to the longest id that starts its name.
    index = picture_index(run / "pictures", ["clip-0", "clip-0.x"])
    assert {p.name for _, p in index["clip-0.x"]} == {"clip-0.x.gif", "clip-0.x.png"}


def test_without_a_manifest_the_files_give_the_statuses(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", sample_videos(), manifest=False)
    report = collect_report(run)
    assert report.counts == {"total": 5, "done": 4, "failed": 1, "missing": 0}
    assert report.last_run is None


def test_the_page_is_self_contained_escaped_and_its_links_resolve(run: Path) -> None:
    page = write_report(run)
    assert page == run / "report.html"
    text = page.read_text(encoding="utf-8")
    parsed = parse(text)
    # Nothing is fetched from elsewhere: no external script, style sheet, image, font or frame.
    for tag, attrs in parsed.tags:
        assert tag not in ("link", "iframe", "object", "embed", "img")
        if tag == "script":
            assert "src" not in attrs
    assert "http://" not in text and "https://" not in text and "@import" not in text
    # Markup in an error message is shown, never interpreted.
    assert "<b>bad</b>" not in text and "&lt;b&gt;bad&lt;/b&gt; &amp; &quot;odd&quot;" in text
    # Every link is relative (or file:// to the source video) and names an existing file.
    hrefs = [a["href"] for tag, a in parsed.tags if tag == "a" and a.get("href")]
    assert len(hrefs) >= 4 * 3 + 2  # sheet, animation, timeline per done video; failure records
    for href in hrefs:
        assert href is not None
        parsed_url = urlparse(href)
        assert parsed_url.scheme in ("", "file")
        target = (
            Path(unquote(parsed_url.path)) if parsed_url.scheme else page.parent / unquote(href)
        )
        assert target.is_file(), href
    rows = [a for tag, a in parsed.tags if tag == "tr" and "data-outcome" in a]
    assert [r["data-outcome"] for r in rows] == [
        "done",
        "done",
        "done",
        "failed",
        "done",
        "missing",
    ]
    assert [r["data-correct"] for r in rows][:2] == ["yes", "no"]
    assert "RANDOM WEIGHTS" not in text and "No pictures yet" not in text


def test_the_page_says_when_pictures_are_missing_and_links_move_with_the_page(
    run: Path, tmp_path: Path
) -> None:
    shutil.rmtree(run / "pictures")
    text = render_report(collect_report(run), run)
    assert "No pictures yet" in text and "videoattr render" in text
    # A page written elsewhere links back into the run folder.
    elsewhere = write_report(run, tmp_path / "pages" / "r.html")
    hrefs = [
        a["href"] for tag, a in parse(elsewhere.read_text()).tags if tag == "a" and a.get("href")
    ]
    relative = [h for h in hrefs if h and not h.startswith("file:")]
    assert relative and all(h.startswith("../run/") for h in relative)
    assert all((elsewhere.parent / unquote(h)).is_file() for h in relative)


def test_read_meta_reads_what_read_result_reads(run: Path) -> None:
    store = ResultStore(run)
    maps, meta = store.read_result("left-0")
    assert store.read_meta("left-0") == meta and isinstance(maps, np.ndarray)


def test_command_line(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "file://" in out
    assert (run / "report.html").is_file()
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds no run.json" in err
    assert main(["report", str(run), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["report", str(run), "--pictures", str(tmp_path / "none")]) == 2
    assert "--pictures" in capsys.readouterr().err


def test_files_written_or_damaged_after_the_manifest(run: Path) -> None:
    store = ResultStore(run)
    # "broken 3" succeeded in a later run (its failure record is dropped by write_result) ...
    maps, meta = store.read_result("left-0")
    store.write_result("broken 3", maps, {**meta, "id": "broken 3"})
    # ... and the result of "up-1" was damaged since.
    (run / "results" / "up-1.npz").write_bytes(b"PK\x03\x04 truncated")
    report = collect_report(run)
    rows = {r.id: r for r in report.rows}
    assert rows["broken 3"].status == "done"
    assert rows["up-1"].status == "failed" and "unreadable result" in str(rows["up-1"].error)
    assert len(report.unreadable) == 1 and report.unreadable[0].startswith("up-1: ")
    assert report.counts == {"total": 6, "done": 4, "failed": 1, "missing": 1}
    assert "Unreadable results" in render_report(report, run)
