"""Results display as small pictures in a notebook (issue 22): ``_repr_png_`` and ``_repr_html_`` of
SaliencyMaps, localise's list, study results and side_by_side; user text is escaped in HTML."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

import attribkit
from attribkit.localisation import LocalisedClass, LocalisedClasses
from attribkit.render import side_by_side
from attribkit.render._notebook import MAX_TILES, TILE, tiles_html

NASTY = "<script>alert(1)</script> & 'cat'"


@pytest.fixture
def net(tiny_model):
    return tiny_model.float()


def _png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data))


def _no_raw_script(text: str) -> None:
    assert "<script>" not in text and "&lt;script&gt;" in text


def _maps(model, names: list[str]) -> attribkit.SaliencyMaps:
    found = attribkit.saliency(model, np.full((60, 90, 3), 120, np.uint8), top_k=len(names))
    # Class names come from users (a --classes file): make them hostile.
    return attribkit.SaliencyMaps(found.labels, names, found.scores, found.maps, found.photo_maps, found.image)


def test_saliency_maps_picture_is_small_and_escaped(net):
    found = _maps(net, [NASTY, "b"])
    img = _png(found._repr_png_())
    # The input crop and one tile per class, each at most TILE pixels: a row of three tiles.
    assert img.width <= 3 * TILE + 60 and img.height <= TILE + 60
    text = found._repr_html_()
    _no_raw_script(text)
    assert text.count("<img ") == 3 and "data:image/jpeg;base64," in text


def test_saliency_maps_picture_counts_classes_left_out(net):
    found = _maps(net, [f"class {i}" for i in range(MAX_TILES + 2)])
    text = found._repr_html_()
    assert text.count("<img ") == MAX_TILES and "3 more classes not shown" in text


def test_localise_returns_a_list_that_shows_the_photo(net):
    photo = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    boxes = attribkit.localise(net, photo, top_k=2, preset=None, localiser="threshold")
    assert isinstance(boxes, list) and isinstance(boxes, LocalisedClasses)
    assert boxes == list(boxes) and len(boxes) == 2 and isinstance(boxes[0], LocalisedClass)
    assert type(boxes[:1]) is list  # slices are plain lists
    assert boxes.image is not None and boxes.image.rgb.shape == (80, 120, 3)
    assert _png(boxes._repr_png_()).width <= 2 * TILE + 60
    assert boxes._repr_html_().count("<img ") == 2


def test_localised_classes_escape_names_and_need_a_photo(net):
    image = attribkit.load_image(np.zeros((40, 60, 3), np.uint8), net)
    mask = np.zeros((40, 60), bool)
    mask[10:20, 10:30] = True
    one = LocalisedClass(3, NASTY, 0.9, (10, 10, 30, 20), mask, np.zeros((40, 60), np.float32))
    _no_raw_script(LocalisedClasses([one], image)._repr_html_())
    bare = LocalisedClasses([one])
    assert bare._repr_png_() is None and bare._repr_html_() is None  # text only, as a plain list


def test_side_by_side_takes_maps_and_photos_and_checks_them():
    shown = side_by_side([np.zeros((300, 500, 3), np.uint8), np.random.rand(50, 50)], [NASTY, "map"])
    assert repr(shown).startswith("SideBySide(")
    img = _png(shown._repr_png_())
    assert img.height <= TILE + 60
    _no_raw_script(shown._repr_html_())
    with pytest.raises(attribkit.InputError, match="side_by_side"):
        side_by_side([np.zeros((4, 4, 4, 4))])
    with pytest.raises(attribkit.InputError, match="side_by_side"):
        side_by_side([])


def test_tiles_keep_legend_colours_and_escape_captions():
    from attribkit.render._notebook import Tile

    text = tiles_html([Tile(np.zeros((8, 8, 3), np.uint8), NASTY, legend=[(NASTY, (64, 200, 255))])], note=NASTY)
    _no_raw_script(text)
    assert "rgb(64,200,255)" in text
    assert "'" not in re.sub(r"'[^']*'", "", text.split("<img", 1)[1].split(">", 1)[0])  # alt quoted safely


@pytest.mark.slow
def test_study_result_shows_its_table_and_plot(net, study_registry, tmp_path):
    from attribkit.study import run_study

    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / f"x{i}<b>.png")
    result = run_study(net, folder, methods=["saliency", "random"], localisers=[], out=tmp_path / "s",
                       steps=2, batch_size=4, gallery=0, workers=0, progress=False, top_k=0)
    text = repr(result)
    assert text.startswith("StudyResult(out=") and "records=" in text and len(text) < 400
    page = result._repr_html_()
    assert "<table>" in page and "white-space:nowrap" in page and "data:image/png;base64," in page and "deletion_auc" in page
    assert _png(result._repr_png_()).width <= 960


@pytest.mark.slow
def test_evaluation_shows_its_table_escaped(study_registry, tmp_path):
    import _study_helpers as helpers

    from attribkit.study import Setting, StudyImage, evaluate

    photos = helpers.write_photos(tmp_path / "photos", 3)
    items = [StudyImage(f"p{i}", p, label=i % 4, boxes=((10 + i, 8, 30 + i, 24),)) for i, p in enumerate(photos)]
    settings = [Setting(NASTY, localiser="above_mean", preset=None), Setting("centre box", localiser="centre", preset=None)]
    result = evaluate(helpers.tiny_classifier(), items, settings=settings, out=tmp_path / "e", top_k=0, progress=False)
    text = repr(result)
    assert text.startswith("Evaluation(out=") and "records=" in text and len(text) < 600
    page = result._repr_html_()
    _no_raw_script(page)
    assert "GT-known acc [95% CI]" in page and "vs centre box [95% CI]" in page and "data:image/png" in page
    assert _png(result._repr_png_()).width <= 960
