"""The report page in a real headless Chromium (the system's, over its DevTools protocol): the table
sorts on a click, the menus and the search box filter it, and every link opens a file.

Skipped only when no Chromium is installed (``apt-get install -y chromium``; CI installs it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.report.chromium import Browser, find_browser
from tests.report.runs import make_run, sample_videos
from videoattr.runner.report_page import write_report

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="Chromium is not installed (apt-get install -y chromium): the report page's sorting, "
    "filtering and links are not checked in a browser",
)

ROW_IDS = (
    "Array.from(document.querySelectorAll('#results tbody tr'))"
    ".filter((r) => !r.hidden).map((r) => r.cells[1].firstChild.textContent)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.start() as b:
        yield b


@pytest.fixture
def page(tmp_path: Path, browser: Browser) -> Path:
    run = make_run(tmp_path / "run", sample_videos(), timeline=True)
    path = write_report(run)
    browser.open(path.resolve().as_uri())
    return path


def column(browser: Browser, title: str) -> str:
    """The CSS selector of the heading cell whose text is ``title``."""
    titles = browser.evaluate(
        "Array.from(document.querySelectorAll('#results thead th')).map((th) => th.textContent)"
    )
    return f"#results thead th:nth-child({titles.index(title) + 1})"


def test_clicking_a_heading_sorts_by_it_and_again_the_other_way(
    page: Path, browser: Browser
) -> None:
    assert browser.evaluate(ROW_IDS) == [
        "left-0",
        "up-1",
        "left-2",
        "broken 3",
        "down-4",
        "later-5",
    ]
    browser.click(column(browser, "p(target | clip)"))
    # Numbers in numeric order; rows without a number (failed, missing) last.
    assert browser.evaluate(ROW_IDS) == [
        "up-1",
        "down-4",
        "left-0",
        "left-2",
        "broken 3",
        "later-5",
    ]
    assert (
        browser.evaluate(
            f"document.querySelector({json.dumps(column(browser, 'p(target | clip)'))}).getAttribute('aria-sort')"
        )
        == "ascending"
    )
    browser.click(column(browser, "p(target | clip)"))
    assert browser.evaluate(ROW_IDS) == [
        "left-2",
        "left-0",
        "down-4",
        "up-1",
        "broken 3",
        "later-5",
    ]
    browser.click(column(browser, "time (s)"))
    assert browser.evaluate(ROW_IDS)[:4] == ["down-4", "up-1", "left-0", "left-2"]
    browser.click(column(browser, "video"))  # text: by the id
    assert browser.evaluate(ROW_IDS) == [
        "broken 3",
        "down-4",
        "later-5",
        "left-0",
        "left-2",
        "up-1",
    ]
    browser.click(column(browser, "outcome"))
    # "done" before "failed" before "missing"; equal values keep the run's order (a stable sort).
    assert browser.evaluate(ROW_IDS) == [
        "left-0",
        "up-1",
        "left-2",
        "down-4",
        "broken 3",
        "later-5",
    ]


def test_the_menus_and_the_search_box_filter_the_rows(page: Path, browser: Browser) -> None:
    shown = "document.getElementById('shown').textContent"
    browser.select_option("#class-filter", "left")
    assert browser.evaluate(ROW_IDS) == ["left-0", "left-2"]
    assert browser.evaluate(shown) == "2 of 6 rows shown"
    browser.select_option("#class-filter", "")
    browser.select_option("#outcome-filter", "failed")
    assert browser.evaluate(ROW_IDS) == ["broken 3"]
    # The failed row shows its error, as text.
    error = browser.evaluate("document.querySelector('tr.failed .error').textContent")
    assert error == 'ValueError: <b>bad</b> & "odd" file'
    browser.select_option("#outcome-filter", "wrong")
    assert browser.evaluate(ROW_IDS) == ["up-1"]
    browser.select_option("#outcome-filter", "right")
    assert browser.evaluate(ROW_IDS) == ["left-0", "left-2", "down-4"]
    browser.select_option("#outcome-filter", "missing")
    assert browser.evaluate(ROW_IDS) == ["later-5"]
    browser.select_option("#outcome-filter", "")
    browser.type_into("#search", "DOWN")  # any text of a row, without case
    assert browser.evaluate(ROW_IDS) == ["up-1", "down-4"]
    browser.type_into("#search", "")
    assert browser.evaluate(shown) == "6 of 6 rows shown"


def test_every_link_opens_a_file(page: Path, browser: Browser) -> None:
    hrefs = browser.evaluate("Array.from(document.querySelectorAll('a[href]')).map((a) => a.href)")
    kinds = browser.evaluate(
        "Array.from(document.querySelectorAll('#results a[href]')).map((a) => a.className)"
    )
    assert {"sheet", "animation", "timeline", "record"} <= set(kinds)
    assert len(hrefs) >= 4 * 3 + 2
    for href in hrefs:
        assert href.startswith("file://")
        assert browser.navigate_error(href) is None, href
    # The check can fail: a picture removed after the page was written no longer opens.
    (page.parent / "pictures" / "up-1.png").unlink()
    missing = [h for h in hrefs if h.endswith("/pictures/up-1.png")]
    assert len(missing) == 1 and "ERR_FILE_NOT_FOUND" in str(browser.navigate_error(missing[0]))


def test_a_real_run_rendered_and_reported(
    tmp_path: Path, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoattr import demo_model, io
    from videoattr.cli import main
    from videoattr.datasets import SyntheticMotion

    videos = tmp_path / "videos"
    videos.mkdir()
    batch = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(2)
    for i in range(2):
        name = demo_model.CLASS_NAMES[int(batch.labels[i])]
        io.write_video(videos / f"{name}-{i}.mp4", batch.frames[i], fps=8)
    (videos / "broken-9.mp4").write_bytes(b"not a video")
    run = tmp_path / "run"
    common = ["--model", "demo", "--no-gpu", "--no-progress", "--method", "grad_cam"]
    args = ["run", "--videos-dir", str(videos), *common, "--out", str(run)]
    assert main([*args, "--batch-size", "1", "--num-workers", "0"]) == 1  # one video failed
    assert main(["render", str(run), "--format", "png,gif"]) == 0
    assert main(["report", str(run)]) == 0
    capsys.readouterr()
    browser.open((run / "report.html").resolve().as_uri())
    assert browser.evaluate("document.getElementById('shown').textContent") == "3 of 3 rows shown"
    browser.select_option("#outcome-filter", "failed")
    assert browser.evaluate(ROW_IDS) == ["broken-9"]
    hrefs = browser.evaluate(
        "Array.from(document.querySelectorAll('#results a[href]')).map((a) => [a.className, a.href])"
    )
    assert sorted(k for k, _ in hrefs).count("sheet") == 2
    for _, href in hrefs:
        assert browser.navigate_error(href) is None, href
