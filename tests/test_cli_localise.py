"""``attribkit localise`` and ``attribkit evaluate`` end to end on small inputs."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from attribkit.cli import main
from attribkit.data import synthetic_images


@pytest.fixture
def small_set(tmp_path):
    entries = []
    for i, (rgb, _, box) in enumerate(synthetic_images(2, size=(120, 160))):
        Image.fromarray(rgb).save(tmp_path / f"p{i}.png")
        entries.append({"file": f"p{i}.png", "label": "Egyptian cat", "wnid": "n02124075", "boxes": [list(box)]})
    (tmp_path / "boxes.json").write_text(json.dumps({"images": entries}))
    return tmp_path


def test_localise_writes_a_picture_per_photo(small_set, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["localise", str(small_set / "p0.png"), "--out", str(out), "--preset", "paper", "--top-k", "2"])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # Issue 15: a header line first, and the method in the file name.
    assert lines[0].split("\t") == ["photo", "panel", "label", "name", "score", "x0", "y0", "x1", "y1"]
    assert len(lines) == 3 and (out / "p0_saliency_graphcut_paper.png").is_file()
    assert all(len(line.split("\t")) == 9 for line in lines)


def test_evaluate_writes_csv_and_markdown(small_set, tmp_path, capsys):
    out = tmp_path / "eval"
    status = main(["evaluate", "--data", str(small_set / "boxes.json"), "--out", str(out), "--localiser", "centre",
                   "--preset", "paper", "--examples", "1"])
    assert status == 0
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["subset"] for r in rows] == ["all", "1-1", "2-2"]
    assert 0.0 <= float(rows[0]["gt_known"]) <= 1.0
    assert "| saliency+centre (paper) |" in (out / "metrics.md").read_text()
    assert list((out / "examples").glob("*.png"))


def test_evaluate_method_alone_is_a_custom_setting(small_set, tmp_path, capsys):
    out = tmp_path / "eval"
    status = main(["evaluate", "--data", str(small_set / "boxes.json"), "--out", str(out), "--method", "deconvnet",
                   "--examples", "0", "--top-k", "1"])
    assert status == 0
    text = (out / "metrics.md").read_text()
    # The default preset's localiser (threshold) on the named method's maps.
    assert "| deconvnet+threshold (default) |" in text and "| centre box |" not in text
    # Any method takes a preset's averaging (it wraps any attributor), also one without its own.
    assert main(["evaluate", "--data", str(small_set / "boxes.json"), "--out", str(out), "--method", "random",
                 "--examples", "0", "--top-k", "1"]) == 0
    assert main(["evaluate", "--data", str(small_set / "boxes.json"), "--out", str(out), "--method", "random",
                 "--preset", "gradient", "--option", "ten_crop=false", "--examples", "0", "--top-k", "1"]) == 0


def test_evaluate_bad_data_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{")
    assert main(["evaluate", "--data", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["localise", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")]) == 1  # skipped
    assert main(["localise", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o"), "--option", "x"]) == 2


def test_localise_tells_a_fallback_box_and_repeated_boxes(tmp_path, capsys):
    """A flat photo gets the localiser's fallback box: the terminal says so (the table keeps its columns),
    the JSON has it, and the panel's legend names it and the class whose box another one repeats."""
    import numpy as np

    from attribkit.cli._localise import legend_labels
    from attribkit.localisation import LocalisedClass

    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    out = tmp_path / "out"
    assert main(["localise", str(tmp_path / "flat.png"), "--out", str(out), "--top-k", "2",
                 "--json", str(out / "f.json")]) == 0
    captured = capsys.readouterr()
    assert "flat.png" in captured.err and "fallback (flat map), not a localisation" in captured.err
    assert all(len(line.split("\t")) == 9 for line in captured.out.strip().splitlines())
    classes = json.loads((out / "f.json").read_text())["photos"][0]["classes"]
    assert [c["fallback"] for c in classes] == ["flat map", "flat map"]

    mask, sal = np.zeros((2, 2), bool), np.zeros((2, 2), np.float32)
    results = [LocalisedClass(1, "cat", 0.6, (0, 0, 5, 5), mask, sal),
               LocalisedClass(2, "dog", 0.3, (0, 0, 5, 5), mask, sal, "no seeds"),
               LocalisedClass(3, "fox", 0.1, (1, 0, 5, 5), mask, sal)]
    assert legend_labels(results, lambda p: f"p={p:.1f}") == [
        "cat p=0.6", "dog p=0.3, fallback box (no seeds), same box as cat", "fox p=0.1"]


def test_localise_preset_none_is_no_preset(small_set, tmp_path, capsys):
    """``--preset none`` is ``Recipe(preset=None)``: the paper's saliency + GraphCut on their own defaults."""
    out = tmp_path / "none"
    assert main(["localise", str(small_set / "p0.png"), "--out", str(out), "--preset", "none"]) == 0
    assert (out / "p0_saliency_graphcut_none.png").is_file()


def test_evaluate_examples_draw_the_truth_on_the_kept_copy(tmp_path, monkeypatch, capsys):
    """Above MAX_PHOTO_PIXELS the photo is kept as a scaled copy: the example panels draw the annotation's
    boxes (photo pixels) scaled onto it, as the study's records are (the cap lowered to keep this quick)."""
    import numpy as np

    import attribkit.data._image as image_module
    import attribkit.render

    monkeypatch.setattr(image_module, "MAX_PHOTO_PIXELS", 120 * 160 // 4)  # a 160x120 photo kept at half size
    rgb = np.full((120, 160, 3), 90, np.uint8)
    rgb[40:100, 60:140] = 200
    Image.fromarray(rgb).save(tmp_path / "p.png")
    boxes = {"images": [{"file": "p.png", "label": "Egyptian cat", "boxes": [[60, 40, 140, 100]]}]}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    drawn = []
    real = attribkit.render.draw_boxes
    monkeypatch.setattr(attribkit.render, "draw_boxes",
                        lambda rgb, boxes, *a, truth=(), **k: drawn.append((rgb.shape, list(truth))) or real(
                            rgb, boxes, *a, truth=truth, **k))
    assert main(["evaluate", "--data", str(tmp_path / "boxes.json"), "--out", str(tmp_path / "e"),
                 "--localiser", "centre", "--preset", "paper", "--examples", "1"]) == 0
    assert drawn and all(shape[:2] == (60, 80) for shape, _ in drawn)
    # boxes.json corners are inclusive pixels: [60, 40, 140, 100] is (60, 40, 141, 101) half-open, halved.
    assert all(truth == [(30.0, 20.0, 70.5, 50.5)] for _, truth in drawn)
