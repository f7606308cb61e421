"""Annotation readers (ILSVRC XML, JSON) and the synthetic generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attribkit.data import (
    imagenet_wnids,
    read_annotations,
    read_json,
    read_voc_xml,
    synthetic_images,
)
from attribkit.errors import AnnotationError

XML = """<annotation><folder>val</folder><filename>ILSVRC2012_val_00000001</filename>
<size><width>500</width><height>375</height><depth>3</depth></size>
<object><name>n01751748</name><bndbox><xmin>111</xmin><ymin>108</ymin><xmax>441</xmax><ymax>193</ymax></bndbox></object>
<object><name>n01751748</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>
</annotation>"""


def test_ilsvrc_xml_boxes_become_half_open(tmp_path):
    (tmp_path / "a.xml").write_text(XML)
    item = read_voc_xml(tmp_path / "a.xml")
    assert item.path == tmp_path / "ILSVRC2012_val_00000001.JPEG"
    assert item.labels == ["n01751748"] and (item.width, item.height) == (500, 375)
    # Inclusive 1-based (xmin=1 is the first column) → half-open 0-based.
    assert item.boxes() == [(110, 107, 441, 193), (0, 0, 10, 20)]
    assert len(read_annotations(tmp_path)) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("<annotation>", "not valid XML"), ("<annotation><filename>x</filename></annotation>", "no <object>"),
     ("<annotation><object><name>n1</name></object><filename>x</filename></annotation>", "needs <name>"),
     ("<annotation><filename>x</filename><object><name>n</name><bndbox><xmin>5</xmin><ymin>1</ymin>"
      "<xmax>2</xmax><ymax>9</ymax></bndbox></object></annotation>", "no area")],
)
def test_bad_xml(tmp_path, text, message):
    (tmp_path / "a.xml").write_text(text)
    with pytest.raises(AnnotationError, match=message):
        read_voc_xml(tmp_path / "a.xml")


def test_json(tmp_path):
    data = {"images": [{"file": "cat.jpg", "label": "Egyptian cat", "wnid": "n02124075",
                        "boxes": [[1, 2, 30, 40]], "note": "rough"}]}
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    (item,) = read_json(tmp_path / "boxes.json")
    # Inclusive pixel corners (ILSVRC's convention) become exclusive x1/y1.
    assert item.labels == ["n02124075"] and item.boxes() == [(1, 2, 31, 41)] and item.note == "rough"
    assert read_annotations(tmp_path)[0].path == tmp_path / "cat.jpg"
    data["box_format"] = "exclusive"
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    assert read_json(tmp_path / "boxes.json")[0].boxes() == [(1, 2, 30, 40)]
    data["box_format"] = "corners"
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="box_format must be one of inclusive, exclusive; got 'corners'"):
        read_json(tmp_path / "boxes.json")


def test_json_whole_photo_box(dev_set):
    """An inclusive [0, 0, W-1, H-1] box is the whole photo."""
    items = read_json(dev_set.parent / "ilsvrc-val-dev" / "boxes.json") if (
        dev_set.parent / "ilsvrc-val-dev" / "boxes.json").is_file() else pytest.skip("no ILSVRC dev set")
    whole = [b for i in items for b in i.boxes() if b[:2] == (0, 0) and b[2:] == (227, 227)]
    assert whole and all(max(b[2], b[3]) <= 227 for i in items for b in i.boxes())


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "not valid JSON"), ('{"images": []}', "at least one"), ('{"images": [{"file": "a"}]}', "'boxes'"),
     ('{"images": [{"file": "a", "boxes": [[1, 2, 3]], "label": "x"}]}', "four numbers"),
     ('{"images": [{"file": "a", "boxes": [[1, 2, 3, 4]]}]}', "'label'")],
)
def test_bad_json(tmp_path, content, message):
    (tmp_path / "b.json").write_text(content)
    with pytest.raises(AnnotationError, match=message):
        read_json(tmp_path / "b.json")


def test_missing_files(tmp_path):
    for reader in (read_json, read_voc_xml, read_annotations):
        with pytest.raises(AnnotationError, match="no such"):
            reader(tmp_path / "nope.json")
    with pytest.raises(AnnotationError, match="no \\*.xml"):
        read_annotations(tmp_path)


def test_imagenet_wnids_are_torchvisions_order():
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids) and wnids.index("n02124075") == 285


def test_synthetic_boxes_enclose_the_object():
    for rgb, saliency, (x0, y0, x1, y1) in synthetic_images(3, size=(60, 90)):
        assert rgb.shape == (60, 90, 3) and saliency.shape == (60, 90)
        assert saliency[y0:y1, x0:x1].mean() > 2 * np.delete(saliency, np.s_[y0:y1], axis=0).mean()


def test_dev_set_reads(dev_set):
    items = read_json(dev_set / "boxes.json")
    assert len(items) == 80 and all(i.path.is_file() for i in items)
    assert all(label in imagenet_wnids() for i in items for label in i.labels)


def test_the_datasets_alias_warns_and_nothing_in_the_library_imports_it():
    import ast
    import importlib
    import sys
    from pathlib import Path

    import attribkit
    import attribkit.data

    sys.modules.pop("attribkit.datasets", None)
    with pytest.warns(DeprecationWarning, match="import .* from attribkit.data"):
        alias = importlib.import_module("attribkit.datasets")
    assert alias.read_annotations is attribkit.data.read_annotations

    root = Path(attribkit.__file__).parent
    users = []
    for path in root.rglob("*.py"):
        if path.parent.name == "datasets":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "attribkit.datasets" or n.startswith("attribkit.datasets.") for n in names):
                users.append(str(path.relative_to(root)))
    assert users == []  # the CLI included: `attribkit evaluate` must not warn
