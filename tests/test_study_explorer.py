"""The study's pages without a browser: what explorer.html inlines, how rows are labelled and compared.

The browser tests (tests/test_explorer_browser.py) drive the page itself.
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
from PIL import Image

from attribkit.study._explorer import explorer_data, script_json, write_explorer
from attribkit.study._labels import describe
from attribkit.study._report import write_html
from attribkit.study._settings import Setting, cross_settings
from attribkit.study._summary import compare, comparisons, summarise, to_markdown
from attribkit.study._thumbnails import map_thumbnail


def _records(n: int = 12) -> list[dict]:
    """saliency boxes the object on half the photos; the blind centre box on every one (a centred object)."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        image = f"p{i:02d}"
        out.append({"kind": "map", "image": image, "method": "saliency", "localiser": "", "target": 1,
                    "predicted": 1, "labelled": True, "deletion_auc": float(rng.uniform(0.1, 0.2)),
                    "insertion_auc": 0.5, "pointing": 1.0, "truth": [[10, 10, 30, 30]],
                    "thumbnail": map_thumbnail(rng.random((40, 40)))})
        out.append({"kind": "box", "image": image, "method": "saliency", "localiser": "graphcut",
                    "box": [10, 10, 30, 30], "iou": 1.0 if i % 2 else 0.1, "fallback": None})
        out.append({"kind": "box", "image": image, "method": "saliency", "localiser": "centre",
                    "box": [10, 10, 30, 30], "iou": 0.9, "fallback": None})
    return out


def test_the_blind_centre_box_is_a_baseline_never_the_best():
    rows = summarise(_records(), methods=["saliency"], localisers=["graphcut", "centre"])
    loc = next(c for c in compare(rows) if c.metric == "loc_accuracy")
    # The centre box boxes every photo, GraphCut half of them: the centre box is still not "best".
    assert loc.best == "saliency + graphcut"
    assert [v.label for v in loc.baselines] == ["saliency + centre"]
    section = comparisons(rows)
    line = next(x for x in section.splitlines() if x.startswith("- `loc_accuracy`"))
    assert "best `saliency + graphcut`" in line and "`saliency + centre` (+0.500" in line and "beats it" in line


def test_which_differences_are_real_says_what_each_rows_numbers_say(tmp_path):
    # The newcomer's study: gradcam + threshold boxes all 12 photos, saliency + threshold none (a real
    # difference), the blind centre box 10 of 12 (-0.167 against the best, McNemar p=0.5: no difference).
    # The line once said "every other row differs" without saliency's numbers and then listed the centre
    # baselines' tie as if they differed.
    records = []
    for i in range(12):
        image = f"p{i:02d}"
        for method in ("saliency", "gradcam"):
            records.append({"kind": "map", "image": image, "method": method, "localiser": "", "target": 1,
                            "predicted": 1, "labelled": True, "deletion_auc": 0.1, "insertion_auc": 0.5,
                            "pointing": 1.0, "truth": [[10, 10, 30, 30]]})
            records.append({"kind": "box", "image": image, "method": method, "localiser": "threshold",
                            "box": [10, 10, 30, 30], "iou": 0.9 if method == "gradcam" else 0.1, "fallback": None})
            records.append({"kind": "box", "image": image, "method": method, "localiser": "centre",
                            "box": [10, 10, 30, 30], "iou": 0.9 if i < 10 else 0.1, "fallback": None})
    rows = summarise(records, methods=["saliency", "gradcam"], localisers=["threshold", "centre"])
    line = next(x for x in comparisons(rows).splitlines() if x.startswith("- `loc_accuracy`"))
    assert "best `gradcam + threshold` 1.000" in line
    assert re.search(r"every other row differs from it \(95% paired interval excludes 0 and p < 0\.05\): "
                     r"`saliency \+ threshold` \(-1\.000 \[-1\.000, -1\.000\], p=0\.\d+\);", line)
    baselines = line.split("; baselines (never the best), each against it: ")[1]
    assert re.fullmatch(r"`saliency \+ centre` \(-0\.167 \[-0\.\d+, \+0\.000\], p=0\.5\) not distinguishable from "
                        r"it, `gradcam \+ centre` \(-0\.167 .*\) not distinguishable from it", baselines)
    # The explorer's marks say the same: ≠ for saliency + threshold, ≈ for the centre rows.
    data, _ = explorer_data(tmp_path, title="t", rows=rows, records=records, images=[], labels={},
                            class_names=None, settings={})
    marks = {r["label"]: r["verdicts"].get("loc_accuracy", {}).get("verdict") for r in data["rows"]}
    assert marks == {"saliency + threshold": "differs", "saliency + centre": "tie",
                     "gradcam + threshold": "best", "gradcam + centre": "tie"}
    page = write_html(tmp_path / "index.html", title="t", rows=rows, records=[], images=[],
                      methods=["saliency", "gradcam"], localisers=["threshold", "centre"], plots=[],
                      settings={}, labels={}).read_text()
    assert "p &lt; 0.05): <code>saliency + threshold</code> (-1.000" in page


def test_a_blind_row_does_not_repeat_the_maps_metrics():
    rows = summarise(_records(), methods=["saliency"], localisers=["graphcut", "centre"])
    table = to_markdown(rows).splitlines()
    centre = next(x for x in table if x.startswith("| saliency | centre"))
    graphcut = next(x for x in table if x.startswith("| saliency | graphcut"))
    assert "0.150" not in centre and "| -" in centre  # deletion_auc and pointing: the map's, not the box's
    assert re.search(r"\| 0\.1\d\d \[", graphcut)
    assert "| 1.000 [" in centre  # its own GT-known accuracy


def test_rows_named_alike_are_labelled_with_the_settings_that_made_them():
    # "saliency + graphcut" of a study (GraphCut's own defaults) and evaluate's gradient preset: different
    # computations (0.40 and 0.60 on the same photos), which the labels must tell apart.
    study = describe(cross_settings(["saliency"], ["graphcut"])[0].resolve())
    preset = describe(Setting("gradient (saliency+graphcut)", preset="gradient").resolve())
    assert study != preset
    assert study.startswith("preset none · map saliency, plain · localiser graphcut(defaults ")
    assert "preset gradient" in preset and "set " in preset  # the preset's options, named


def test_index_html_shows_code_not_markdown_backticks(tmp_path):
    rows = summarise(_records(), methods=["saliency"], localisers=["graphcut", "centre"])
    page = write_html(tmp_path / "index.html", title="t", rows=rows, records=[], images=[], methods=["saliency"],
                      localisers=["graphcut", "centre"], plots=[], settings={"model": "m"},
                      labels={("saliency", "graphcut"): "preset none · graphcut"}).read_text()
    assert "`" not in page
    assert "<code>saliency + graphcut</code>" in page and "preset none · graphcut" in page
    assert "baseline: a centred box; ignores the map" in page


def test_script_json_cannot_close_its_script_block():
    nasty = {"name": "</script><script>alert(1)</script><!--", "amp": "&amp;", "nan": float("nan")}
    text = script_json(nasty)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {**nasty, "nan": None}


def test_explorer_inlines_data_and_maps_and_fetches_nothing(tmp_path):
    records = _records()
    records[0] = {**records[0], "image": "<img src=x onerror=alert(1)>"}
    rows = summarise(records, methods=["saliency"], localisers=["graphcut", "centre"])
    data, maps = explorer_data(tmp_path, title="t", rows=rows, records=records, images=[], labels={},
                               class_names=["a", "b <b>"], settings={"model": "m"})
    page = write_explorer(tmp_path / "explorer.html", data, maps).read_text()
    assert "<img src=x" not in page and "<b>" not in page  # only escaped inside the JSON
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)  # no CDN, no network
    assert [r["label"] for r in data["rows"]] == ["saliency + graphcut", "saliency + centre"]
    centre = data["rows"][1]
    assert centre["baseline"] and "deletion_auc" not in centre["cells"] and centre["verdicts"]["loc_accuracy"]
    assert data["rows"][0]["verdicts"]["loc_accuracy"]["verdict"] == "best"
    assert data["photos"][0]["class"] == "b <b>" and data["photos"][0]["correct"] is True
    assert len(maps["saliency"]) == 12 and all(maps["saliency"])


def test_map_thumbnail_keeps_the_maps_order_and_where_the_crop_did_not_reach():
    m = np.tile(np.linspace(0, 1, 96), (64, 1))
    m[:, :16] = np.nan
    thumb = map_thumbnail(m)
    assert thumb["photo"] == [96, 64]
    values = np.asarray(Image.open(io.BytesIO(base64.b64decode(thumb["png"]))))
    assert values.shape == (32, 48)
    assert (values[:, :8] == 0).all() and values[:, 9:].min() >= 1 and values.max() == 255
    assert (np.diff(values[:, 9:].astype(int), axis=1) >= 0).all()
    assert (np.asarray(Image.open(io.BytesIO(base64.b64decode(map_thumbnail(np.ones((8, 8)))["png"])))) == 1).all()


def test_evaluate_writes_an_explorer_with_rows_labelled_by_their_settings(tmp_path):
    import json as _json

    import _study_helpers as helpers
    from attribkit.study import StudyImage, evaluate

    paths = helpers.write_photos(tmp_path / "photos", 3)
    items = [StudyImage(f"p{i}", p, label=1, boxes=((10 + i, 8, 30 + i, 24),)) for i, p in enumerate(paths)]
    settings = [Setting("plain threshold", attributor="saliency", localiser="threshold", preset=None),
                Setting("centre box", localiser="centre", preset=None)]
    result = evaluate(helpers.tiny_classifier(), items, settings=settings, out=tmp_path / "eval", top_k=0,
                      progress=False)
    page = result.files["explorer"].read_text()
    data = _json.loads(re.search(r"id='study-data'>(.*?)</script>", page).group(1))
    rows = {r["label"]: r for r in data["rows"]}
    assert set(rows) == {"plain threshold", "centre box"}  # the subsets' rows stay in metrics.md
    assert rows["plain threshold"]["settings"].startswith("preset none · map saliency, plain · localiser threshold(")
    assert rows["centre box"]["baseline"] and rows["plain threshold"]["baseline"] is None
    assert [p["name"] for p in data["photos"]] == ["p0", "p1", "p2"]
