"""Issue 23, item 1: photos decoded off the main process (``loader_workers``) give the records of decoding
in the main process, in the order the records need; a photo that fails to decode is reported and skipped."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import attribkit
from attribkit.study import StudyImage, run_study
from attribkit.study._loader import decode, photo_stream, usable_workers

import _study_helpers as helpers

#: Records compared bit for bit: one torch thread for every test here (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Five annotated photos (one of them not a picture, one with a box reaching past its edge) and two
    without annotations, so the loader feeds both of the study's batch groups."""
    folder = tmp_path_factory.mktemp("photos")
    paths = helpers.write_photos(folder, 7)
    paths[1].write_bytes(b"not a picture at all")
    entries = [{"file": p.name, "label": 3, "boxes": [[10 + i, 8, 30 + i, 24 if i != 2 else 400]]}
               for i, p in enumerate(paths[:5])]
    (folder / "boxes.json").write_text(json.dumps(entries))
    return folder


def _items(folder: Path) -> list[StudyImage]:
    from attribkit.data import read_annotations
    from attribkit.study._data import annotated_images

    annotated = annotated_images(read_annotations(folder), lambda label: int(label))
    return annotated + [StudyImage(p.stem, p) for p in sorted(folder.glob("photo0[56].png"))]


def _study(out: Path, items, **kw):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_study(helpers.tiny_classifier(), items, methods=["saliency"], localisers=["above_mean"], out=out,
                           steps=2, gallery=1, workers=0, top_k=2, map_batch=2, progress=False, **kw)
    return result, sorted({str(w.message) for w in caught})


@pytest.mark.slow  # two spawned loader processes start in ~5 s on a busy 2-core machine
def test_loader_workers_give_the_records_of_decoding_in_the_main_process(tmp_path, data, study_registry):
    items = _items(data)
    serial, told = _study(tmp_path / "serial", items)
    loaded, told_by_workers = _study(tmp_path / "workers", items, loader_workers=2)
    assert loaded.records == serial.records and len(serial.records) == 6 * 2
    # The unreadable photo is reported and skipped, and the clipped box is told, as in the main process.
    assert set(loaded.skipped) == set(serial.skipped) == {"photo01"}
    assert told_by_workers == told
    assert any("photo01" in t and "skipped" in t for t in told) and any("clipped" in t for t in told)
    # In the order the records need: annotated photos first (their own batch group), in the data's order.
    names = [r["image"] for r in loaded.records if r["kind"] == "map"]
    assert names == ["photo00", "photo02", "photo03", "photo04", "photo05", "photo06"]


def test_decode_never_raises_for_a_photo_that_cannot_be_used(tmp_path, data):
    preprocessing = attribkit.model_info(helpers.tiny_classifier()).preprocessing
    items = {i.name: i for i in _items(data)}
    broken = decode(items["photo01"], preprocessing)
    assert broken.image is None and "photo01.png" in broken.error
    outside = StudyImage("far", items["photo00"].source, 1, ((500, 500, 600, 600),))
    assert "lies outside" in decode(outside, preprocessing).error
    clipped = decode(items["photo02"], preprocessing)
    assert clipped.image is not None and clipped.boxes[0][3] == clipped.image.rgb.shape[0]
    assert [c for c, _ in clipped.warned] == [attribkit.AttribkitWarning]


def test_the_stream_without_workers_is_lazy_and_in_order(data):
    preprocessing = attribkit.model_info(helpers.tiny_classifier()).preprocessing
    items = _items(data)
    calls = []
    lazy = [StudyImage(i.name, (lambda i=i: calls.append(i.name) or np.zeros((40, 48, 3), np.uint8))) for i in items]
    stream = photo_stream(lazy, preprocessing)
    assert calls == []
    first = next(stream)
    assert first[0].name == "photo00" and calls == ["photo00"]
    assert [item.name for item, _ in stream] == [i.name for i in items[1:]]


def test_sources_that_do_not_pickle_are_decoded_in_this_process_with_a_warning(data):
    items = [StudyImage("lambda", lambda: np.zeros((40, 48, 3), np.uint8))]
    with pytest.warns(attribkit.AttribkitWarning, match="'lambda'.*cannot be sent to loader processes"):
        assert usable_workers(2, items) == 0
    assert usable_workers(2, _items(data)) == 2 and usable_workers(0, items) == 0
    with pytest.raises(attribkit.errors.OptionError, match="loader_workers must be >= 0; got -1"):
        usable_workers(-1, items)


def test_sample_photos_pickle_so_loader_processes_can_read_them():
    import pickle

    from attribkit.data import SAMPLE_PHOTOS

    assert pickle.loads(pickle.dumps(SAMPLE_PHOTOS["coffee"]))().shape == (400, 600, 3)


@pytest.mark.parametrize("command", ["study", "evaluate"])
def test_cli_refuses_a_negative_loader_worker_count(tmp_path, capsys, command):
    from attribkit.cli import main

    extra = ["--methods", "saliency"] if command == "study" else []
    status = main([command, *extra, "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--loader-workers", "-1"])
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("--loader-workers must be >= 0; got -1")


def test_the_library_refuses_a_negative_loader_worker_count(tmp_path, data, study_registry):
    with pytest.raises(attribkit.errors.OptionError, match="loader_workers must be >= 0"):
        _study(tmp_path / "o", _items(data), loader_workers=-1)
    shutil.rmtree(tmp_path / "o", ignore_errors=True)
