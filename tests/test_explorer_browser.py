"""The study explorer driven in headless Chromium (Playwright): sorting, filters, the threshold slider,
escaping of user names, no network, and each view's layout (elements present, visible and placed sanely;
not pixel-exact).

Skipped, with the reason, where Playwright's Python package or a Chromium is missing (``.ci/run``
installs Debian's ``chromium``; set ``ATTRIBKIT_CHROMIUM`` to use another binary).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import _study_helpers as helpers
from attribkit.study import StudyImage, run_study

#: What a user may name a photo: markup that would run if the page wrote names as HTML.
NASTY = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>&amp;"
#: Building the study and starting the browser take about 12 s on 2 cores; the tests after it about 1 s each.
pytestmark = pytest.mark.slow
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    found = os.environ.get("ATTRIBKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        pytest.skip("no Chromium installed (apt-get install chromium, or set ATTRIBKIT_CHROMIUM): "
                    "the explorer's browser tests need one")
    return found


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed "
                                                                 "(pip install -e .[test])")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=executable, args=ARGS)
        except Exception as exc:  # a broken or incompatible browser: say so rather than fail the suite
            pytest.skip(f"Chromium at {executable} does not start under Playwright: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A tiny annotated study: 6 photos (one named with markup), two methods, GraphCut's stand-in
    ``threshold`` and the blind ``centre`` box, curves, ROAD and the sanity check on two photos."""
    root = tmp_path_factory.mktemp("explorer")
    paths = helpers.write_photos(root / "photos", 6)
    names = [f"photo {i}" for i in range(6)]
    names[2] = NASTY
    items = [StudyImage(n, paths[i], label=i % 3, boxes=((10 + i, 8, 30 + i, 24),)) for i, n in enumerate(names)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_study(helpers.tiny_classifier(), items, methods=["saliency", "random"],
                           localisers=["threshold", "centre"], out=root / "study", workers=0, steps=2, gallery=0,
                           progress=False, road=2, sanity=2, top_k=0)
    finally:
        torch.set_num_threads(threads)
    return result.files["explorer"]


@pytest.fixture()
def page(browser, study):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(study.as_uri())
    page.wait_for_selector("body[data-ready='true'] #results-table")
    yield page
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # nothing from the network
    context.close()


def _column(page, key: str) -> list[str]:
    return page.eval_on_selector_all(f"#results-table tbody td[data-key='{key}']",
                                     "cells => cells.map(c => c.dataset.value)")


def _photos(page):
    page.click("#tab-photos")
    page.wait_for_selector("#photo-grid canvas[data-method='saliency'][data-threshold-box]")


def test_the_table_sorts_by_a_column_both_ways(page):
    def labels() -> list[str]:
        return page.eval_on_selector_all("#results-table tbody .name", "e => e.map(x => x.textContent)")

    before = labels()
    assert len(before) == 4
    page.click("#results-table th[data-key='mean_iou']")
    values = [float(v) for v in _column(page, "mean_iou")]
    assert values == sorted(values, reverse=True)  # higher is better: best first
    assert page.get_attribute("#results-table th[data-key='mean_iou']", "aria-sort") == "descending"
    page.click("#results-table th[data-key='mean_iou']")
    assert [float(v) for v in _column(page, "mean_iou")] == sorted(values)
    page.click("#results-table th[data-key='label']")
    assert labels() == sorted(before)


def test_headers_say_which_way_is_better_and_a_wide_table_scrolls_in_its_box(page):
    th = "#results-table th[data-key='{}']"
    assert page.inner_text(th.format("deletion_auc")).replace("\n", "").endswith("\u2193")
    assert "lower is better" in page.get_attribute(th.format("deletion_auc"), "title")
    assert page.inner_text(th.format("mean_iou")).replace("\n", "").endswith("\u2191")
    assert "no best/" in page.get_attribute(th.format("max_box_acc"), "title")  # no paired test there
    page.set_viewport_size({"width": 700, "height": 900})
    page.wait_for_selector("#scroll-hint", state="visible")
    wrap = _box(page, ".table-wrap")
    assert wrap["x"] + wrap["width"] <= 700  # the page does not grow; the table scrolls inside its box
    page.eval_on_selector(".table-wrap", "w => { w.scrollLeft = w.scrollWidth; }")
    last = page.locator("#results-table thead th").last.bounding_box()
    assert last["x"] + last["width"] <= wrap["x"] + wrap["width"] + 1  # the last column can be reached


def test_baselines_are_marked_and_never_best(page):
    rows = page.eval_on_selector_all(
        "#results-table tbody tr",
        "rows => rows.map(r => [r.querySelector('.name').textContent, !!r.querySelector('.badge.baseline'),"
        " Array.from(r.querySelectorAll('.verdict.best')).length, r.querySelector('.settings').textContent])")
    by_name = {name: (badge, best, settings) for name, badge, best, settings in rows}
    assert by_name["saliency + centre"][:2] == (True, 0) and by_name["random + centre"][:2] == (True, 0)
    assert by_name["saliency + threshold"][0] is False
    assert by_name["saliency + threshold"][2] == "preset none · map saliency, plain · localiser threshold(defaults " \
                                                "blur=0.0, component='largest', fraction=0.2)"


def test_a_filter_narrows_the_photos(page):
    _photos(page)
    assert page.get_attribute("#photo-list", "data-count") == "6"
    page.select_option("#filter-class", "class 1")  # labels 0, 1, 2, 0, 1, 2
    assert page.get_attribute("#photo-list", "data-count") == "2"
    assert page.inner_text("#photo-count") == "2 of 6 photos"
    page.select_option("#filter-class", "")
    page.check("#filter-disagree")
    count = int(page.get_attribute("#photo-list", "data-count"))
    assert count < 6  # the blind box and the thresholded maps agree somewhere


def test_the_slider_redraws_the_threshold_box(page):
    _photos(page)
    canvas = "#photo-grid canvas[data-method='saliency']"
    low = [int(v) for v in page.get_attribute(canvas, "data-threshold-box").split(",")]
    page.fill("#threshold", "0.9")  # a range input: fill sets the value and fires input
    page.wait_for_function(f"document.querySelector(\"{canvas}\").dataset.thresholdBox !== '{','.join(map(str, low))}'")
    high = [int(v) for v in page.get_attribute(canvas, "data-threshold-box").split(",")]
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert area(high) < area(low)  # a higher threshold keeps fewer pixels
    assert page.inner_text("#threshold-value") == "0.90"


def test_captions_name_each_box_and_the_curves_legend_repeats_the_table(page):
    cell = page.get_attribute("#results-table td[data-key='deletion_auc']", "data-value")
    row = page.eval_on_selector("#results-table tbody tr", "r => r.querySelector('.name').textContent")
    _photos(page)
    caption = page.inner_text("#photo-grid figure[data-method='saliency'] figcaption")
    assert "study's threshold box (full-size map)" in caption and "on the " in caption and "preview map)" in caption
    page.click("#tab-curves")
    page.wait_for_selector(".curve svg")
    method = row.split(" + ")[0]
    legend = page.locator(".curve[data-panel='deletion'] li", has_text=method + ":").inner_text()
    assert f"{method}: {float(cell):.3f} (" in legend  # the table's per-photo mean, not the drawn curve's
    ticks = page.eval_on_selector_all(".curve[data-panel='deletion'] text.ytick", "t => t.map(x => x.textContent)")
    steps = {round(float(b) - float(a), 6) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1 and 3 <= len(ticks) <= 6 and float(ticks[0]) == 0  # evenly spaced, round
    assert round(steps.pop() / 10 ** np.floor(np.log10(float(ticks[1]) - float(ticks[0]))), 6) in (1, 2, 2.5, 5)
    svg = _box(page, ".curve[data-panel='deletion'] svg")
    last = page.locator(".curve[data-panel='deletion'] svg text", has_text="1.00").bounding_box()
    assert last["x"] + last["width"] <= svg["x"] + svg["width"]  # the last x label is not clipped


def test_a_photo_name_holding_markup_shows_as_text(page):
    _photos(page)
    button = page.locator("#photo-list button", has_text="<script>")
    assert button.text_content() == NASTY
    button.click()
    page.wait_for_function("document.getElementById('photo-name').textContent.length > 0")
    assert page.text_content("#photo-name") == NASTY
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#photo-detail script, #photo-list img").count() == 0


def _box(page, selector: str) -> dict:
    locator = page.locator(selector).first
    assert locator.is_visible(), f"{selector} is not visible"
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0, f"{selector}: {box}"
    return box


def _within(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack)


def test_each_view_has_its_layout(page, tmp_path):
    width = page.viewport_size["width"]
    # Results: the tabs under the title, the table under the tabs, inside the page's width.
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    title, tabs, table = _box(page, "header h1"), _box(page, "nav"), _box(page, ".table-wrap")
    assert title["y"] < tabs["y"] < table["y"] and table["x"] + table["width"] <= width
    assert page.locator("#results-table tbody tr").count() == 4
    assert _box(page, "#results-table tbody tr")["height"] >= 20
    # Photos: the list on the left, beside (not under) the maps; photo + one figure per method.
    _photos(page)
    page.screenshot(path=str(tmp_path / "photos.png"), full_page=True)
    side, detail = _box(page, ".sidebar"), _box(page, "#photo-detail")
    assert side["x"] + side["width"] <= detail["x"] and abs(side["y"] - detail["y"]) < 40
    figures = page.locator("#photo-grid figure")
    assert figures.count() == 3
    for i in range(3):
        canvas = figures.nth(i).locator("canvas").bounding_box()
        assert canvas["width"] >= 150 and canvas["height"] >= 100 and _within(canvas, detail)
    assert _box(page, "#threshold")["y"] < _box(page, "#photo-grid")["y"]
    # Curves: one inline SVG per measured panel, each with a line per method.
    page.click("#tab-curves")
    page.wait_for_selector(".curve svg")
    page.screenshot(path=str(tmp_path / "curves.png"), full_page=True)
    panels = page.eval_on_selector_all(".curve", "e => e.map(x => x.dataset.panel)")
    assert panels == ["deletion", "insertion", "road_morf", "road_lerf", "sanity"]
    for panel in panels:
        svg = _box(page, f".curve[data-panel='{panel}'] svg")
        assert svg["width"] >= 300 and svg["height"] >= 200
        assert page.locator(f".curve[data-panel='{panel}'] polyline").count() == 2
    assert not page.is_visible("#view-results") and not page.is_visible("#view-photos")
    for name in ("results", "photos", "curves"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
