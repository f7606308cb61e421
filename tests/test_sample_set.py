"""The annotated sample set that ships (attribkit.data.write_sample_dataset, `attribkit samples`)."""

from __future__ import annotations

import json

import pytest

import attribkit
from attribkit.cli import main
from attribkit.data import SAMPLE_BOXES, SAMPLE_PHOTOS, imagenet_wnids, read_annotations, write_sample_dataset
from attribkit.errors import InputError


def test_every_sample_photo_has_boxes_of_a_real_class():
    assert set(SAMPLE_BOXES) == set(SAMPLE_PHOTOS)
    names = attribkit.imagenet_classes()
    for photo, truth in SAMPLE_BOXES.items():
        assert names[truth.index] == truth.label, photo


def test_written_set_reads_back_with_boxes_inside_each_photo(tmp_path):
    path = write_sample_dataset(tmp_path / "new" / "samples")
    assert path == tmp_path / "new" / "samples" / "boxes.json"
    entries = read_annotations(path.parent)  # the folder form finds boxes.json too
    assert [e.path.stem for e in entries] == list(SAMPLE_BOXES)
    wnids = imagenet_wnids()
    for entry in entries:
        truth = SAMPLE_BOXES[entry.path.stem]
        assert entry.labels == [wnids[truth.index]]
        assert entry.path.is_file() and entry.path.suffix == ".jpg"
        h, w = SAMPLE_PHOTOS[entry.path.stem]().shape[:2]
        assert (entry.width, entry.height) == (w, h)
        # inclusive corners in the file, exclusive once read: one more on x1 and y1, and inside the photo
        assert entry.boxes() == [(x0, y0, x1 + 1, y1 + 1) for x0, y0, x1, y1 in truth.boxes]
        assert all(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h for x0, y0, x1, y1 in entry.boxes())
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [e["label"] for e in document["images"]] == [t.label for t in SAMPLE_BOXES.values()]


def test_cli_writes_the_set_and_prints_its_annotation_file(tmp_path, capsys):
    assert main(["samples", "--out", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "s" / "boxes.json")
    assert len(list((tmp_path / "s").glob("*.jpg"))) == len(SAMPLE_PHOTOS)


def test_refuses_a_file_as_folder_and_a_bad_quality(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        write_sample_dataset(tmp_path / "f")
    with pytest.raises(InputError, match="quality"):
        write_sample_dataset(tmp_path / "q", quality=100)
    assert main(["samples", "--out", str(tmp_path / "f")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_the_annotations_page_shows_the_shipped_file_and_an_equivalent_xml(tmp_path):
    # docs/annotations.md's examples are for copying: the JSON is what `attribkit samples` writes, and its
    # XML (1-based inclusive corners) reads as the same box as the JSON's first photo.
    import re
    from pathlib import Path

    from attribkit.data import read_json, read_voc_xml

    page = (Path(__file__).resolve().parents[1] / "docs" / "annotations.md").read_text(encoding="utf-8")
    (json_block,) = re.findall(r"^```json\n(.*?)^```", page, flags=re.M | re.S)
    (xml_block,) = re.findall(r"^```xml\n(.*?)^```", page, flags=re.M | re.S)
    path = write_sample_dataset(tmp_path)
    assert json.loads(json_block) == json.loads(path.read_text(encoding="utf-8"))
    (tmp_path / "chelsea.xml").write_text(xml_block, encoding="utf-8")
    from_xml = read_voc_xml(tmp_path / "chelsea.xml")
    from_json = read_json(path)[0]
    assert (from_xml.path, from_xml.objects, from_xml.width, from_xml.height) == (
        from_json.path, from_json.objects, from_json.width, from_json.height)


def test_data_samples_reads_the_written_folder_when_there_is_one(tmp_path, monkeypatch):
    from attribkit.study import study_images

    monkeypatch.chdir(tmp_path)
    bundled = study_images("samples")
    assert all(not image.boxes for image in bundled)  # the bundled photos carry no boxes
    write_sample_dataset(tmp_path / "samples")
    wnids = imagenet_wnids()
    # `attribkit samples --out samples` then `--data samples`
    written = study_images("samples", class_index=wnids.index)
    assert [i.name for i in written] == [i.name for i in bundled]
    assert all(image.boxes for image in written)
    assert all(not image.boxes for image in study_images("samples:chelsea"))
