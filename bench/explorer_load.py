"""Size and load time of ``explorer.html`` for a study of 17 methods on 500 photos, in headless Chromium.

    python bench/explorer_load.py --template STUDY_DIR [--methods 17] [--photos 500] [--out DIR]
                                  [--repeats 3] [--screenshots docs/images]

A real study of that size takes hours on two CPU cores, so the study is built from a real one's records
(``--template``: any finished ``attribkit study`` folder): its map, box, ROAD and sanity records and its
photo thumbnails are cycled over ``--methods`` method names and ``--photos`` photo names, with every
metric jittered (so rows and photos differ) and each map thumbnail kept as computed (real maps compress
as they do). The report is then written as a study writes it (:func:`summarise`, :func:`explorer_data`,
:func:`write_explorer`), and the page is opened ``--repeats`` times in headless Chromium (Playwright) to
measure, as medians:

- ``load``: navigation start to the table on screen (the page's ``data-ready-ms``, ``performance.now()``);
- ``first photo``: clicking the Photos tab until every method's map of the first photo is drawn (this
  parses the inlined maps, once);
- ``sort``, ``filter``, ``slider``: one click on a column, one class chosen, one slider step redrawn.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path

from attribkit.study._explorer import explorer_data, write_explorer
from attribkit.study._records import read_records
from attribkit.study._summary import summarise
from attribkit.study._thumbnails import photo_thumbnail_path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
JITTERED = ("deletion_auc", "insertion_auc", "pointing", "iou", "probability")


def synthetic(template: Path, out: Path, methods: int, photos: int) -> tuple[list[dict], list[str], list[str]]:
    """Records of ``methods`` x ``photos`` cycled from ``template``'s (see the module)."""
    records = read_records(template)
    rng = random.Random(0)
    real_methods = sorted({r["method"] for r in records if r["kind"] == "map"})
    real_photos = sorted({r["image"] for r in records if r["kind"] == "map"})
    by_key = {(r["kind"], r["image"], r["method"], r.get("localiser", "")): r for r in records}
    # "saliency[copy=4]": a label as a study writes one for a map with options, so the copies of a baseline
    # (random) stay baselines.
    names = [f"{real_methods[i % len(real_methods)]}[copy={i}]" for i in range(methods)]
    images = [f"n{1000000 + i:08d}_{i}.JPEG" for i in range(photos)]
    images[7] = "<script>alert('a photo name')</script>.jpg"
    out_records = []
    for j, image in enumerate(images):
        source = real_photos[j % len(real_photos)]
        thumb = photo_thumbnail_path(template, source)
        if thumb.is_file():
            target = photo_thumbnail_path(out, image)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(thumb, target)
        for i, method in enumerate(names):
            real = real_methods[i % len(real_methods)]
            for (kind, img, m, loc), r in by_key.items():
                if img != source or m != real:
                    continue
                copy = json.loads(json.dumps(r))
                copy.update(image=image, method=method)
                for key in JITTERED:
                    if isinstance(copy.get(key), float):
                        copy[key] = min(1.0, max(0.0, copy[key] + rng.gauss(0, 0.05)))
                out_records.append(copy)
    return out_records, names, images


def labels(records: list[dict]) -> dict[tuple[str, str], str]:
    """Each row's settings line: the real method's and localiser's (GraphCut or not, its own defaults)."""
    from attribkit.study._labels import describe
    from attribkit.study._settings import cross_settings

    out = {}
    for r in records:
        if r["kind"] == "box" and (r["method"], r["localiser"]) not in out:
            real = r["method"].split("[", 1)[0]
            setting = cross_settings([real], [r["localiser"]])[0]
            out[(r["method"], r["localiser"])] = describe(setting.resolve()) + f" (a copy of {real}'s records)"
    return out


def measure(page_path: Path, repeats: int, screenshots: Path | None) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {k: [] for k in ("load", "first photo", "sort", "filter", "slider")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for attempt in range(repeats):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready-ms]")
            times["load"].append(float(page.get_attribute("body", "data-ready-ms")))
            if screenshots and attempt == 0:
                page.screenshot(path=str(screenshots / "explorer-results.png"))

            def timed(key: str, action: str, until: str) -> None:
                start = page.evaluate("performance.now()")
                getattr(page, action[0])(*action[1:])
                page.wait_for_function(until)
                times[key].append(page.evaluate("performance.now()") - start)

            methods = page.evaluate("JSON.parse(document.getElementById('study-data').textContent).methods.length")
            drawn = (f"document.querySelectorAll('#photo-grid canvas[data-drawn]').length === {methods + 1}")
            timed("first photo", ("click", "#tab-photos"), drawn)
            timed("filter", ("select_option", "#filter-class", page.eval_on_selector_all(
                "#filter-class option", "o => o[1].value")), "document.getElementById('photo-list')")
            page.select_option("#filter-class", "")
            page.evaluate("document.querySelectorAll('#photo-grid canvas')"
                          ".forEach(c => c.removeAttribute('data-drawn'))")
            timed("slider", ("fill", "#threshold", "0.5"), drawn)
            if screenshots and attempt == 0:
                page.screenshot(path=str(screenshots / "explorer-photo.png"))
            page.click("#tab-results")
            timed("sort", ("click", "#results-table th[data-key='insertion_auc']"),
                  "document.querySelector(\"#results-table th[data-key='insertion_auc']\")"
                  ".getAttribute('aria-sort') !== 'none'")
            if screenshots and attempt == 0:
                page.click("#tab-curves")
                page.screenshot(path=str(screenshots / "explorer-curves.png"))
            context.close()
        browser.close()
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--methods", type=int, default=17)
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("explorer-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    records, methods, images = synthetic(args.template, args.out, args.methods, args.photos)
    start = time.perf_counter()
    localisers = sorted({r["localiser"] for r in records if r["kind"] == "box"})
    rows = summarise(records, methods=methods, localisers=localisers)
    summarised = time.perf_counter()
    data, maps = explorer_data(args.out, title="attribkit study (synthetic, from real records)", rows=rows,
                               records=records, images=images, labels=labels(records), class_names=None,
                               settings={"methods": len(methods), "photos": len(images), "records": len(records)})
    page = write_explorer(args.out / "explorer.html", data, maps)
    written = time.perf_counter()
    thumbs = sum(p.stat().st_size for p in (args.out / "explorer").glob("*"))
    timings = measure(page, args.repeats, args.screenshots)
    print(f"records {len(records)}, rows {len(rows)}, methods {len(methods)}, photos {len(images)}")
    print(f"explorer.html {page.stat().st_size / 1e6:.2f} MB; photo thumbnails {thumbs / 1e6:.2f} MB "
          f"({len(list((args.out / 'explorer').glob('*')))} files)")
    print(f"summarise {summarised - start:.1f} s; explorer data and page {written - summarised:.1f} s")
    for key, ms in timings.items():
        print(f"{key}: {ms:.0f} ms (median of {args.repeats})")


if __name__ == "__main__":
    main()
