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
