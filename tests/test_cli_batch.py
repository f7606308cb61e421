"""``attribkit saliency`` / ``localise`` on batches (issue 15): files, folders and globs, per-photo targets
from a CSV, missing photos reported and skipped, the maps and a JSON summary written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import attribkit
from attribkit.cli import main
from attribkit.cli._photos import collect_photos


@pytest.fixture
def photos(tmp_path, chelsea, coffee):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    # Small copies: the model resizes to 256 anyway, and small photos keep the maps cheap.
    Image.fromarray(chelsea).resize((240, 160)).save(folder / "chelsea.jpg")
    Image.fromarray(coffee).resize((240, 160)).save(folder / "coffee.png")
    Image.fromarray(coffee).resize((240, 160)).save(folder / "sub" / "cup.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_collect_photos_reads_files_folders_and_globs(photos, tmp_path):
    found, problems = collect_photos([str(photos), str(photos / "chelsea.jpg"), str(photos / "**" / "*.jpg"),
                                      str(tmp_path / "nope.jpg"), str(tmp_path / "*.gif"), str(tmp_path / "empty")])
    # The folder gives its image files (sorted, not recursing, no .txt); duplicates come once, in order.
    assert found == [photos / "chelsea.jpg", photos / "coffee.png", photos / "sub" / "cup.jpg"]
    assert problems == [f"{tmp_path / 'nope.jpg'}: no such file", f"{tmp_path / '*.gif'}: no file matches",
                        f"{tmp_path / 'empty'}: no such file"]
    (tmp_path / "empty").mkdir()
    assert collect_photos([str(tmp_path / "empty")])[1] == [f"{tmp_path / 'empty'}: no image files in this folder"]


def test_a_missing_photo_is_reported_and_the_rest_done(photos, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["saliency", str(tmp_path / "missing.jpg"), str(photos), "--out", str(out), "--smooth", "0"])
    assert status == 1
    captured = capsys.readouterr()
    assert f"attribkit saliency: skipping {tmp_path / 'missing.jpg'}: no such file" in captured.err
    assert "Traceback" not in captured.err
    assert len(list(out.glob("*.png"))) == 2  # chelsea and coffee: the folder was still done


def test_an_unreadable_photo_in_a_glob_is_skipped(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["saliency", str(photos / "*"), "--out", str(out), "--smooth", "0", "--json",
                 str(tmp_path / "r.json")]) == 1
    assert "notes.txt" in capsys.readouterr().err
    report = json.loads((tmp_path / "r.json").read_text())
    errors = [p for p in report["photos"] if "error" in p]
    assert [p["photo"] for p in errors] == [str(photos / "notes.txt")]


def test_targets_csv_gives_each_photo_its_classes(photos, tmp_path, capsys):
    csv = photos / "targets.csv"
    csv.write_text("photo,target\nchelsea.jpg,Egyptian cat\nchelsea.jpg,285\ncoffee.png,n07920052\n"
                   "sub/cup.jpg,goose\n")
    out = tmp_path / "out"
    # Without PHOTO arguments the CSV's photos are the batch (relative to the CSV's folder).
    assert main(["saliency", "--targets", str(csv), "--out", str(out), "--smooth", "0"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["chelsea_Egyptian_cat_saliency.png", "coffee_espresso_saliency.png", "cup_goose_saliency.png"]
    # With PHOTO arguments the rows apply to those photos (by path or file name); others get the top-1.
    out2 = tmp_path / "out2"
    assert main(["saliency", str(photos / "chelsea.jpg"), str(photos / "sub"), "--targets", str(csv),
                 "--out", str(out2), "--smooth", "0"]) == 2  # coffee.png's row names a photo not given
    assert "line 4: coffee.png is not among the photos given" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("file,class\na.jpg,1\n", "needs the columns photo,target"),
    ("photo,target\nchelsea.jpg,\n", "line 2: needs a photo and a target"),
    ("photo,target\nchelsea.jpg,expresso\n", "line 2: unknown class 'expresso'"),
])
def test_bad_targets_csv_is_a_usage_error(photos, tmp_path, capsys, text, message):
    csv = photos / "t.csv"
    csv.write_text(text)
    assert main(["saliency", "--targets", str(csv), "--out", str(tmp_path / "o"), "--smooth", "0"]) == 2
    assert message in capsys.readouterr().err


def test_targets_is_not_combined_with_target_or_top_k(photos, tmp_path, capsys):
    csv = photos / "t.csv"
    csv.write_text("photo,target\nchelsea.jpg,1\n")
    assert main(["saliency", "--targets", str(csv), "--top-k", "2", "--out", str(tmp_path / "o")]) == 2
    assert main(["saliency", "--out", str(tmp_path / "o")]) == 2
    assert "give photos" in capsys.readouterr().err


def test_save_maps_and_json(photos, tmp_path, default_model):
    out = tmp_path / "out"
    report_file = tmp_path / "report.json"
    assert main(["saliency", str(photos / "chelsea.jpg"), "--out", str(out), "--top-k", "2", "--smooth", "0",
                 "--save-maps", "--json", str(report_file)]) == 0
    expected = attribkit.saliency(default_model, photos / "chelsea.jpg", top_k=2)
    report = json.loads(report_file.read_text())
    assert report["command"] == "saliency" and report["method"] == "saliency"
    (entry,) = report["photos"]
    assert entry["photo"] == str(photos / "chelsea.jpg")
    assert [c["label"] for c in entry["classes"]] == expected.labels
    assert [c["name"] for c in entry["classes"]] == expected.names
    assert [c["score"] for c in entry["classes"]] == pytest.approx(expected.scores)
    for k, c in enumerate(entry["classes"]):
        assert c["box"] is None
        assert {"panel", "map_npy", "map_png"} <= set(c) and all((out / p).is_file() for p in
                                                                  (c["panel"], c["map_npy"], c["map_png"]))
        m = np.load(c["map_npy"])
        # The maps on the photo's pixels (160 x 240), NaN where the model's centre crop does not reach:
        # resized to 256 x 384, the 224 crop covers x 50..190 and y 10..150 of the photo.
        assert m.dtype == np.float32 and m.shape == (160, 240)
        assert np.isnan(m[:, :49]).all() and np.isnan(m[:9]).all() and np.isnan(m[:, 191:]).all()
        assert np.isfinite(m[11:149, 51:189]).all()
        np.testing.assert_allclose(m, expected.photo_maps[k], rtol=1e-5, atol=1e-9)
        png = Image.open(c["map_png"])
        assert np.asarray(png).dtype.itemsize == 2 and np.asarray(png).max() == 65535


def test_ten_crop_does_not_overwrite_the_plain_panel(photos, tmp_path, capsys):
    out = tmp_path / "out"
    photo = str(photos / "coffee.png")
    assert main(["saliency", photo, "--out", str(out), "--smooth", "0"]) == 0
    assert main(["saliency", photo, "--out", str(out), "--smooth", "0", "--ten-crop"]) == 0
    assert main(["saliency", photo, "--out", str(out), "--smooth", "0", "--method", "guided_backprop",
                 "--option", "smoothgrad=2"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [
        "coffee_espresso_guided_backprop_smoothgrad2.png", "coffee_espresso_saliency.png",
        "coffee_espresso_saliency_tencrop.png"]


def test_panels_show_the_smoothed_map_and_mark_low_classes(photos, tmp_path, monkeypatch):
    import attribkit.render

    calls = []
    monkeypatch.setattr(attribkit.render, "save_panel", lambda path, images, titles, **kw: calls.append(
        (path, images, titles, kw)) or path)
    out = tmp_path / "out"
    assert main(["saliency", str(photos / "chelsea.jpg"), "--out", str(out), "--top-k", "5", "--smooth", "2"]) == 0
    assert len(calls) == 5
    _, images, titles, kw = calls[0]
    assert titles == ["photo (model input)", "saliency |∂S_c/∂I| (paper)",
                      "SmoothGrad of it\n(mean over 2 noisy copies)", "overlay (SmoothGrad, blurred)"]
    assert len(images) == 4 and not np.array_equal(images[1], images[2])
    assert not kw["muted"] and kw["caption"].startswith("bright: ") and "(low)" not in kw["suptitle"]
    # The fifth class of the cat photo has p < 0.05: greyed and marked.
    assert calls[-1][3]["muted"] and calls[-1][3]["suptitle"].endswith("(low)")


def test_deconvnet_caption_on_strided_networks(default_model, tiny_model):
    from attribkit.cli._saliency import method_caveat

    assert "docs/rules.md" in method_caveat("deconvnet", default_model)
    assert method_caveat("saliency", default_model) is None
    assert method_caveat("deconvnet", tiny_model) is None  # max-pool switches make it image-specific


def test_localise_header_boxes_and_json(photos, tmp_path, capsys):
    out = tmp_path / "out"
    report_file = tmp_path / "boxes.json"
    assert main(["localise", str(photos / "chelsea.jpg"), "--out", str(out), "--top-k", "2", "--localiser",
                 "centre", "--json", str(report_file), "--save-maps"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert lines[0] == "photo\tpanel\tlabel\tname\tscore\tx0\ty0\tx1\ty1"
    rows = [line.split("\t") for line in lines[1:]]
    (entry,) = json.loads(report_file.read_text())["photos"]
    assert [int(r[2]) for r in rows] == [c["label"] for c in entry["classes"]]
    assert [[int(v) for v in r[5:]] for r in rows] == [c["box"] for c in entry["classes"]]
    assert all(np.load(c["map_npy"]).shape == (160, 240) for c in entry["classes"])
    assert rows[0][1] == str(out / "chelsea_gradcam_centre.png") == entry["classes"][0]["panel"]  # the default preset's map


def test_photos_whose_names_slug_alike_get_distinct_files(photos, tmp_path, capsys):
    """``a b.png`` and ``a_b.png`` used to write the same panel (both slugs are ``a_b``)."""
    src = photos / "coffee.png"
    for name in ("a b.png", "a_b.png"):
        (tmp_path / name).write_bytes(src.read_bytes())
    out = tmp_path / "out"
    assert main(["saliency", str(tmp_path / "a b.png"), str(tmp_path / "a_b.png"), "--out", str(out),
                 "--smooth", "0"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert len(names) == 2 and names[0].startswith("a_b-") and names[1].startswith("a_b_espresso")


@pytest.mark.parametrize("verb", ["saliency", "localise"])
def test_photos_sharing_a_stem_write_their_own_files(verb, photos, tmp_path, chelsea, coffee):
    # a/x.jpg, b/x.jpg and x.png: three photos, three panels, and the JSON points each at its own.
    for folder, rgb, name in (("a", chelsea, "x.jpg"), ("b", coffee, "x.jpg"), ("", coffee, "x.png")):
        (photos / folder).mkdir(exist_ok=True)
        Image.fromarray(rgb).resize((120, 80)).save(photos / folder / name)
    given = [photos / "a" / "x.jpg", photos / "b" / "x.jpg", photos / "x.png"]
    out, report = tmp_path / "out", tmp_path / "r.json"
    extra = ["--smooth", "0"] if verb == "saliency" else ["--option", "blur=0"]
    assert main([verb, *map(str, given), "--out", str(out), "--json", str(report), *extra]) == 0
    panels = [c["panel"] for p in json.loads(report.read_text())["photos"] for c in p["classes"]]
    assert len(panels) == 3 and len(set(panels)) == 3 and sorted(panels) == sorted(map(str, out.glob("*.png")))
    # Readable: the folder and the extension are added only where the stem alone would clash.
    assert [Path(p).name.split("_")[:2] for p in panels[:2]] == [["a", "x.jpg"], ["b", "x.jpg"]]
    assert Path(panels[2]).name.startswith("x.png_")


def test_a_run_with_another_model_does_not_replace_the_panels(photos, tmp_path):
    out = tmp_path / "out"
    photo = str(photos / "coffee.png")
    assert main(["saliency", photo, "--out", str(out), "--smooth", "0"]) == 0
    assert main(["saliency", photo, "--out", str(out), "--smooth", "0", "--model", "timm:test_resnet",
                 "--weights", "random", "--target", "espresso"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [
        "coffee_espresso_saliency.png", "coffee_espresso_saliency_timm_test_resnet_random.png"]
