"""A study that cannot lie or break: its settings are stored and checked on resume, bad record lines and
broken pictures are recomputed, unreadable photos are reported, file names never collide, annotations
are checked (boxes inside the photo, paths inside the data folder), numeric options are validated."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import attribkit
from attribkit.errors import AnnotationError, OptionError
from attribkit.study import StudyImage, read_records, run_study, study_images

import _study_helpers as helpers


#: Records compared bit for bit: one torch thread for every test here (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    helpers.write_photos(folder, 3)
    return folder


def _run(out: Path, data, model=None, **kw):  # type: ignore[no-untyped-def]
    options = {"methods": ["saliency"], "localisers": ["above_mean"], "steps": 2, "gallery": 1, "workers": 0, **kw}
    return run_study(model or helpers.tiny_classifier(), data, out=out, progress=False, **options)


def _record_lines(out: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (out / "records").glob("*.jsonl"))


# -- settings stored with the study ------------------------------------------------------------------


def test_resuming_with_other_settings_is_refused(tmp_path, photos, study_registry):
    first = _run(tmp_path, photos, methods=["saliency", "random"])
    stored = json.loads((tmp_path / "study.json").read_text())
    assert stored["steps"] == 2 and stored["top_k"] == 5 and set(stored["maps"]) == {"saliency", "random"}
    changes = [
        ({"steps": 3}, "steps"),
        ({"top_k": 2}, "top_k"),
        ({"method_options": {"random": {"seed": 1}}}, "random"),
        ({"localiser_options": {"above_mean": {"noise": 0.5}}}, "above_mean"),
    ]
    for change, name in changes:
        with pytest.raises(OptionError, match=f"{name}.*another --out") as info:
            _run(tmp_path, photos, **{"methods": ["saliency", "random"], **change})
        assert "\n" not in str(info.value)
    other = helpers.tiny_classifier()
    with torch.no_grad():
        other[0].weight.add_(0.01)
    with pytest.raises(OptionError, match="model.*another --out"):
        _run(tmp_path, photos, methods=["saliency", "random"], model=other)
    renamed = attribkit.attach_info(helpers.tiny_classifier(), attribkit.ModelInfo(
        "other", attribkit.model_info(helpers.tiny_classifier()).preprocessing, helpers.CLASSES))
    with pytest.raises(OptionError, match="model"):
        _run(tmp_path, photos, methods=["saliency", "random"], model=renamed)
    # Nothing was written by the refused runs.
    assert read_records(tmp_path) == first.records
    # Adding a method, or photos, still resumes.
    more = _run(tmp_path, photos, methods=["saliency", "random", "deconvnet"])
    assert {r["method"] for r in more.records} == {"saliency", "random", "deconvnet"}
    assert [r for r in more.records if r["method"] != "deconvnet"] == first.records
    extra = tmp_path.parent / f"{tmp_path.name}-extra"
    helpers.write_photos(extra, 4)
    items = study_images(photos) + [StudyImage("extra", extra / "photo03.png")]
    grown = _run(tmp_path, items, methods=["saliency"])
    assert {r["image"] for r in grown.records} == {"photo00", "photo01", "photo02", "extra"}
    stored = json.loads((tmp_path / "study.json").read_text())
    assert set(stored["maps"]) == {"saliency", "random", "deconvnet"}


def test_an_evaluate_folder_is_not_reused_by_a_study_with_curves(tmp_path, photos, study_registry):
    from attribkit.study import Setting, evaluate

    items = [StudyImage(f"p{i}", p, label=1, boxes=((10, 8, 30, 24),)) for i, p in
             enumerate(sorted(photos.glob("*.png")))]
    settings = [Setting("plain", localiser="above_mean", preset=None)]
    evaluate(helpers.tiny_classifier(), items, settings=settings, out=tmp_path, progress=False)
    with pytest.raises(OptionError, match="steps"):
        run_study(helpers.tiny_classifier(), items, settings=settings, out=tmp_path, workers=0, steps=2,
                  progress=False)


# -- bad record lines ----------------------------------------------------------------------------------


def test_bad_record_lines_are_skipped_with_a_warning_and_recomputed(tmp_path, photos, study_registry):
    first = _run(tmp_path, photos)
    part = tmp_path / "records" / "part-0.jsonl"
    lines = part.read_bytes().split(b"\n")
    good = [line for line in lines if line]
    # Four bad lines in place of the first four records, the rest kept.
    bad = [b"{}", b"null", good[2][: len(good[2]) // 2], b"\xff\xfe not utf-8"]
    part.write_bytes(b"\n".join(bad + good[4:]) + b"\n")
    with pytest.warns(attribkit.AttribkitWarning) as caught:
        partial = read_records(tmp_path)
    messages = [str(w.message) for w in caught]
    for number in (1, 2, 3, 4):
        assert any(str(part) in m and f"line {number}" in m for m in messages), messages
    assert len(partial) == len(first.records) - 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = _run(tmp_path, photos)
    assert again.records == first.records
    # The timings' own bad lines are skipped too.
    (tmp_path / "timings" / "part-0.jsonl").write_bytes(b"{}\n[1]\n")
    from attribkit.study._records import read_timings

    with pytest.warns(attribkit.AttribkitWarning) as caught:
        assert read_timings(tmp_path) == {}
    assert ["line 1" in str(w.message) for w in caught] == [True, False]
    assert "line 2" in str(caught[1].message)


# -- gallery pictures ------------------------------------------------------------------------------------


def _is_png(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:  # noqa: BLE001
        return False


def test_gallery_pictures_are_written_atomically(tmp_path, photos, study_registry, monkeypatch):
    real_save = Image.Image.save

    def killed(self, fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        Path(fp).write_bytes(b"")  # the write started ...
        raise RuntimeError("killed")  # ... and never finished

    monkeypatch.setattr(Image.Image, "save", killed)
    with pytest.raises(RuntimeError, match="killed"):
        _run(tmp_path, photos)
    monkeypatch.setattr(Image.Image, "save", real_save)
    gallery = tmp_path / "gallery"
    assert not list(gallery.glob("*.png")) if gallery.is_dir() else True


def test_broken_or_missing_pictures_are_made_again(tmp_path, photos, study_registry):
    _run(tmp_path, photos)
    gallery = tmp_path / "gallery"
    pictures = sorted(gallery.glob("*.png"))
    assert len(pictures) == 3  # photo, map, localisation of the first photo
    lines = _record_lines(tmp_path)
    photo, saliency, box = (gallery / "photo00__photo.png", gallery / "photo00__saliency.png",
                            gallery / "photo00__saliency__above_mean.png")
    photo.write_bytes(b"")  # a 0-byte PNG left by a killed (non-atomic) write
    saliency.write_bytes(saliency.read_bytes()[:100])  # a torn one
    box.unlink()
    _run(tmp_path, photos)
    assert all(_is_png(p) for p in (photo, saliency, box))
    assert _record_lines(tmp_path) == lines  # pictures only: no record computed twice
    # A picture whose record is missing is made again with the record.
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(saliency)
    part = tmp_path / "records" / "part-0.jsonl"
    kept = [line for line in part.read_text().splitlines()
            if not (json.loads(line)["image"] == "photo00" and json.loads(line)["kind"] == "map")]
    part.write_text("\n".join(kept) + "\n")
    _run(tmp_path, photos)
    with Image.open(saliency) as img:
        assert img.size != (2, 2)


# -- unreadable photos -------------------------------------------------------------------------------------


def _with_broken_photo(tmp_path: Path, photos: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(photos, folder)
    (folder / "photo01.png").write_bytes(b"not a picture at all")
    return folder


def test_an_unreadable_photo_is_reported_and_skipped(tmp_path, photos, study_registry):
    data = _with_broken_photo(tmp_path, photos)
    with pytest.warns(attribkit.AttribkitWarning, match="photo01"):
        result = _run(tmp_path / "out", data, map_batch=3)
    assert set(result.skipped) == {"photo01"} and "photo01.png" in result.skipped["photo01"]
    assert {r["image"] for r in result.records} == {"photo00", "photo02"}
    assert "photo01" in (tmp_path / "out" / "results.md").read_text()
    assert "photo01" in (tmp_path / "out" / "index.html").read_text()
    # The others' records are those of a study without the broken photo.
    clean = tmp_path / "clean"
    shutil.copytree(data, clean)
    (clean / "photo01.png").unlink()
    assert _run(tmp_path / "out-clean", clean, map_batch=3).records == result.records


def test_cli_study_exits_1_after_skipping_a_photo(tmp_path, photos, capsys, monkeypatch, study_registry):
    from attribkit.cli import _study, main

    data = _with_broken_photo(tmp_path, photos)
    monkeypatch.setattr(_study, "model_from_args", lambda args: helpers.tiny_classifier())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["study", "--methods", "saliency", "--data", str(data), "--out", str(tmp_path / "out"),
                       "--steps", "2", "--workers", "0"])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.startswith("| method")
    assert "photo01" in captured.err and (tmp_path / "out" / "index.html").is_file()


# -- file names --------------------------------------------------------------------------------------------


def test_file_names_do_not_collide_after_being_made_safe():
    from attribkit.render import file_name
    from attribkit.study._gallery import gallery_path

    names = ["a b", "a_b", "a__b", "a/b", "a\\b", "A b", "", "x", "_", "a b_", "é", "e", "a" * 300, "a" * 301,
             ".", "..", ".x"]
    made = [file_name(n) for n in names]
    assert len(set(made)) == len(names)
    assert all(m and len(m) <= 120 and "__" not in m and "/" not in m and m[0] != "." for m in made)
    assert file_name("photo00") == "photo00" and file_name("ILSVRC2012_val_00000001") == "ILSVRC2012_val_00000001"
    assert gallery_path(Path("o"), "a b", "saliency") != gallery_path(Path("o"), "a_b", "saliency")
    # The image/method separator cannot be forged by a name.
    assert gallery_path(Path("o"), "x__saliency", "photo") != gallery_path(Path("o"), "x", "saliency", "photo")


def test_photos_whose_safe_names_collide_get_their_own_pictures(tmp_path, photos, study_registry):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(photos / "photo00.png", data / "a b.png")
    shutil.copy(photos / "photo01.png", data / "a_b.png")
    _run(tmp_path / "out", data, gallery=2, localisers=[])
    pictures = list((tmp_path / "out" / "gallery").glob("*.png"))
    assert len(pictures) == 4  # two photos, two maps
    page = (tmp_path / "out" / "index.html").read_text()
    assert all(f"gallery/{p.name}" in page for p in pictures)


# -- annotations -----------------------------------------------------------------------------------------------


def _json(tmp_path: Path, entries: list[dict], name: str = "boxes.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"images": entries, "box_format": "exclusive"}))
    return path


def test_boxes_outside_the_photo_are_refused_and_overlapping_ones_clipped(tmp_path):
    from attribkit.data import read_json

    entry = {"file": "a.png", "label": "1", "width": 100, "height": 80}
    with pytest.raises(AnnotationError, match=r"images\[1\] box 0.*outside the 100 x 80 photo"):
        read_json(_json(tmp_path, [{**entry, "boxes": [[1, 1, 5, 5]]}, {**entry, "boxes": [[100, 5, 120, 30]]}]))
    with pytest.raises(AnnotationError, match=r"images\[0\] box 0.*outside"):
        read_json(_json(tmp_path, [{**entry, "width": 0, "height": 0, "boxes": [[-30, -20, -5, 10]]}]))
    with pytest.warns(attribkit.AttribkitWarning, match=r"images\[0\] box 1.*clipped"):
        (item,) = read_json(_json(tmp_path, [{**entry, "boxes": [[1, 1, 5, 5], [-10, 5, 50, 90]]}]))
    assert item.boxes() == [(1, 1, 5, 5), (0, 5, 50, 80)]
    with pytest.warns(attribkit.AttribkitWarning, match="clipped"):  # size unknown: only the 0 side
        (item,) = read_json(_json(tmp_path, [{**entry, "width": 0, "height": 0, "boxes": [[-10, 5, 500, 90]]}]))
    assert item.boxes() == [(0, 5, 500, 90)]


def test_xml_boxes_outside_the_photo(tmp_path):
    from attribkit.data import read_voc_xml

    xml = ("<annotation><filename>x</filename><size><width>50</width><height>40</height></size><object>"
           "<name>n1</name><bndbox><xmin>{}</xmin><ymin>1</ymin><xmax>{}</xmax><ymax>10</ymax></bndbox>"
           "</object></annotation>")
    (tmp_path / "a.xml").write_text(xml.format(60, 70))
    with pytest.raises(AnnotationError, match="object 0.*outside the 50 x 40 photo"):
        read_voc_xml(tmp_path / "a.xml")
    (tmp_path / "a.xml").write_text(xml.format(40, 70))
    with pytest.warns(attribkit.AttribkitWarning, match="clipped"):
        assert read_voc_xml(tmp_path / "a.xml").boxes() == [(39, 0, 50, 10)]


def test_boxes_are_checked_against_the_photo_read_by_the_study(tmp_path, photos, study_registry):
    # Photo 0 is 40 x 48 (H x W): a box beyond it, unknown to the annotation, is found when it is read.
    items = [StudyImage("in", photos / "photo00.png", label=1, boxes=((10, 8, 60, 24),)),
             StudyImage("out", photos / "photo01.png", label=1, boxes=((50, 50, 60, 60),))]
    with pytest.warns(attribkit.AttribkitWarning) as caught:
        result = _run(tmp_path, items, top_k=0)
    messages = " ".join(str(w.message) for w in caught)
    assert "clipped" in messages and "out" in result.skipped and "outside" in result.skipped["out"]
    box = next(r for r in result.records if r["kind"] == "box")
    assert box["image"] == "in"


def test_photo_paths_stay_inside_the_annotation_folder(tmp_path):
    from attribkit.data import read_annotations, read_json, read_voc_xml

    data = tmp_path / "data"
    data.mkdir()
    entry = {"label": "1", "boxes": [[1, 1, 5, 5]]}
    for file in ("../../elsewhere/x.jpg", str(tmp_path / "x.jpg"), "images/../../x.jpg", "..\\x.jpg"):
        path = _json(data, [{**entry, "file": "ok.jpg"}, {**entry, "file": file}])
        with pytest.raises(AnnotationError, match=r"images\[1\].*outside.*allow_outside"):
            read_json(path)
        assert read_json(path, allow_outside=True)[1].path.name.endswith("x.jpg")
    assert read_json(_json(data, [{**entry, "file": "sub/../ok.jpg"}]))[0].path == data / "sub/../ok.jpg"
    (data / "a.xml").write_text("<annotation><filename>../x.JPEG</filename><object><name>n1</name><bndbox>"
                                "<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
                                "</annotation>")
    with pytest.raises(AnnotationError, match="outside"):
        read_voc_xml(data / "a.xml")
    with pytest.raises(AnnotationError, match="outside"):
        read_annotations(data / "a.xml")
    assert read_annotations(data / "a.xml", allow_outside=True)[0].path == data / "../x.JPEG"
    (data / "a.xml").unlink()
    _json(data, [{**entry, "file": "../x.jpg"}])
    with pytest.raises(AnnotationError, match="outside"):
        study_images(data, class_index=int)
    assert study_images(data, class_index=int, allow_outside=True)[0].name == "x"


def test_a_symbolic_link_inside_the_annotation_folder_cannot_lead_outside_it(tmp_path):
    from attribkit.data import read_json, read_voc_xml

    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "x.jpg").write_bytes(b"not yours")
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "link.jpg").symlink_to(secret / "x.jpg")
    (data / "images" / "deep.jpg").symlink_to(secret / "x.jpg")
    (data / "sub").symlink_to(secret, target_is_directory=True)
    entry = {"label": "1", "boxes": [[1, 1, 5, 5]]}
    for file in ("link.jpg", "sub/x.jpg", "deep.jpg"):
        path = _json(data, [{**entry, "file": file}])
        with pytest.raises(AnnotationError, match=r"images\[0\]: photo path .* is a link to .*x.jpg, outside"):
            read_json(path)
        assert read_json(path, allow_outside=True)[0].path.resolve() == (secret / "x.jpg").resolve()
    (data / "a.xml").write_text("<annotation><filename>link.jpg</filename><object><name>n1</name><bndbox>"
                                "<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
                                "</annotation>")
    with pytest.raises(AnnotationError, match="is a link to"):
        read_voc_xml(data / "a.xml")
    # A link that stays inside, and a data folder that is itself a link, are fine.
    (data / "real.jpg").write_bytes(b"photo")
    (data / "alias.jpg").symlink_to(data / "real.jpg")
    assert read_json(_json(data, [{**entry, "file": "alias.jpg"}]))[0].path == data / "alias.jpg"
    linked = tmp_path / "linked"
    linked.symlink_to(data, target_is_directory=True)
    assert read_json(_json(linked, [{**entry, "file": "real.jpg"}]))[0].path == linked / "real.jpg"


# -- the command line ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value"), [
    ("--limit", "-1"), ("--steps", "-1"), ("--workers", "-1"), ("--gallery", "-2"), ("--top-k", "-1"),
    ("--map-batch", "0"), ("--batch-size", "0")])
def test_cli_study_refuses_bad_numbers(tmp_path, capsys, option, value):
    from attribkit.cli import main

    assert main(["study", "--methods", "saliency", "--data", "samples:coffee", "--out", str(tmp_path / "o"),
                 option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("option", "value"), [
    ("--limit", "-1"), ("--top-k", "-1"), ("--examples", "-1"), ("--workers", "-1"), ("--map-batch", "0")])
def test_cli_evaluate_refuses_bad_numbers(tmp_path, capsys, option, value):
    from attribkit.cli import main

    path = _json(tmp_path, [{"file": "a.png", "label": "1", "boxes": [[1, 1, 5, 5]]}])
    assert main(["evaluate", "--data", str(path), "--out", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and err.count("\n") == 1


def test_cli_out_naming_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    from attribkit.cli import main

    (tmp_path / "file").write_text("x")
    assert main(["study", "--methods", "saliency", "--data", "samples:coffee", "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and err.count("\n") == 1


def test_cli_annotation_paths_outside_need_the_option(tmp_path, capsys):
    from attribkit.cli import main

    data = tmp_path / "data"
    data.mkdir()
    path = _json(data, [{"file": "../a.png", "label": "1", "boxes": [[1, 1, 5, 5]]}])
    assert main(["evaluate", "--data", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "outside" in err and "--allow-outside-paths" in err and err.count("\n") == 1
    assert main(["study", "--methods", "saliency", "--data", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "outside" in capsys.readouterr().err


def test_library_refuses_bad_counts_and_a_file_as_out(tmp_path, photos, study_registry):
    for bad in ({"batch_size": 0}, {"workers": -1}, {"map_batch": 0}, {"top_k": -1}, {"steps": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            _run(tmp_path / "o", photos, **bad)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        _run(tmp_path / "file", photos)
