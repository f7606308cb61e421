"""Issue 20: the study's run state is one object (``StudyRun``) passed down, not a dozen parameters per call;
fallbacks are reported; a resumed study follows corrected annotations; the study's smaller faults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from attribkit.study import run_study, study_images
from attribkit.study._run import StudyRun
from attribkit.study._runner import choose_settings, compute_records

import _study_helpers as helpers

#: Records compared bit for bit: one torch thread for every test here (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")

STUDY = Path(__file__).resolve().parent.parent / "attribkit" / "study"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    helpers.write_photos(folder, 3)
    return folder


def _run(out: Path, data, **kw):  # type: ignore[no-untyped-def]
    options = {"methods": ["saliency"], "localisers": ["above_mean"], "steps": 2, "gallery": 1, "workers": 0, **kw}
    return run_study(helpers.tiny_classifier(), data, out=out, progress=False, **options)


def test_the_runner_passes_one_run_object_not_a_dozen_parameters():
    # run_study's keywords are the public sugar; below it, no function of the runner, the compute loop, the
    # workers or the batches takes more than 6 parameters (localise_job's 6 are one job's payload).
    long = []
    for module in ("_runner.py", "_compute.py", "_workers.py", "_batches.py"):
        for node in ast.walk(ast.parse((STUDY / module).read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "run_study":
                a = node.args
                count = len(a.posonlyargs + a.args + a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
                if count > 6:
                    long.append(f"{module}:{node.name} ({count})")
    assert not long, long


def test_compute_records_takes_a_run_and_equals_run_study(tmp_path, photos, study_registry):
    result = _run(tmp_path / "study", photos)
    settings = choose_settings(["saliency"], ["above_mean"], None, None, None)
    run = StudyRun(helpers.tiny_classifier(), tmp_path / "again", steps=2, gallery=1, progress=False)
    computed = compute_records(run, study_images(photos), settings)
    assert computed is not None and computed.records == result.records


def _flat_model():  # type: ignore[no-untyped-def]
    """The tiny classifier with every weight zero: its gradient maps are flat, so localisers fall back."""
    import torch

    model = helpers.tiny_classifier()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


def test_localise_reports_the_localisers_fallback(photos):
    import numpy as np
    from PIL import Image

    import attribkit

    rgb = np.asarray(Image.open(photos / "photo00.png").convert("RGB"))
    flat = attribkit.localise(_flat_model(), rgb, attributor="saliency", localiser="threshold")
    assert [r.fallback for r in flat] == ["flat map"] and "fallback='flat map'" in repr(flat[0])
    found = attribkit.localise(helpers.tiny_classifier(), rgb, attributor="saliency", localiser="threshold")
    assert [r.fallback for r in found] == [None] and "fallback" not in repr(found[0])


def test_study_records_and_tables_count_fallbacks(tmp_path, photos, study_registry):
    import json

    result = run_study(_flat_model(), photos, methods=["saliency"], localisers=["threshold", "above_mean"],
                       out=tmp_path, steps=0, gallery=1, workers=0, progress=False)
    boxes = [r for r in result.records if r["kind"] == "box"]
    assert {(r["localiser"], r["fallback"]) for r in boxes} == {("threshold", "flat map"), ("above_mean", None)}
    assert {row.localiser: row.fallbacks for row in result.rows} == {"threshold": 3, "above_mean": 0}
    header, *lines = (tmp_path / "results.csv").read_text().splitlines()
    column = header.split(",").index("fallbacks")
    assert [line.split(",")[column] for line in lines] == ["3", "0"]
    assert "fallbacks" in (tmp_path / "results.md").read_text().splitlines()[0]
    page = (tmp_path / "index.html").read_text()
    assert ">fallbacks</th>" in page and "(fallback: flat map)" in page
    # Records written before the field existed still load, and are not counted either way.
    for path in (tmp_path / "records").glob("*.jsonl"):
        old = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "fallback"}) + "\n" for r in old))
    again = run_study(_flat_model(), photos, methods=["saliency"], localisers=["threshold", "above_mean"],
                      out=tmp_path, steps=0, gallery=1, workers=0, progress=False)
    assert len(again.records) == len(result.records)
    assert [row.fallbacks for row in again.rows] == [None, None]
    assert "n/a" in (tmp_path / "results.csv").read_text().splitlines()[1].split(",")[column]


def test_evaluate_tables_count_fallbacks(tmp_path, photos, study_registry):
    from attribkit.study import Setting, evaluate

    data = _annotate(tmp_path, photos, {})
    settings = [Setting(name="flat", attributor="saliency", localiser="threshold")]
    result = evaluate(_flat_model(), data, settings=settings, out=tmp_path / "eval", top_k=0, progress=False)
    assert [(r.subset, r.fallbacks) for r in result.rows] == [("all", 3), ("1-1", 1), ("2-3", 2)]
    header, first, *_ = (tmp_path / "eval" / "metrics.csv").read_text().splitlines()
    assert header.endswith(",fallbacks") and first.endswith(",3")
    table = (tmp_path / "eval" / "metrics.md").read_text().splitlines()
    assert table[0].endswith("| fallbacks |") and table[2].endswith("| 3 |")


def test_cli_localise_json_has_each_boxs_fallback(tmp_path, photos):
    import json

    from attribkit.cli import main

    report = tmp_path / "out.json"
    assert main(["localise", str(photos / "photo00.png"), "--out", str(tmp_path / "o"), "--json", str(report),
                 "--method", "saliency", "--localiser", "threshold", "--top-k", "2"]) == 0
    classes = [c for photo in json.loads(report.read_text())["photos"] for c in photo["classes"]]
    assert len(classes) == 2 and all("fallback" in c and c["fallback"] in (None, "flat map") for c in classes)


def _annotate(folder: Path, photos: Path, changes: dict[int, dict]) -> Path:  # type: ignore[type-arg]
    """``boxes.json`` for the photos (class 1, the bright square's box), with ``changes`` per photo index."""
    import json
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, photo in enumerate(sorted(photos.glob("*.png"))):
        if not (folder / photo.name).exists():
            shutil.copy(photo, folder / photo.name)
        entries.append({"file": photo.name, "label": "1", "boxes": [[10 + i, 8, 29 + i, 23]], **changes.get(i, {})})
    (folder / "boxes.json").write_text(json.dumps({"images": entries}))
    return folder / "boxes.json"


def _docs_example() -> str:
    """The ``run_study(..., workers=2)`` example of docs/studies.md, as a user would paste it."""
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "studies.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "workers=2" in b]
    assert blocks, "docs/studies.md lost its run_study example"
    return blocks[0]


def _script(path: Path, body: str) -> Path:
    # The user's `model = attribkit.load_model()`, with the tiny classifier instead (fast, offline).
    preamble = (f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
                "import _study_helpers as helpers\nmodel = helpers.tiny_classifier()\n")
    path.write_text(preamble + body, encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_documented_example_with_workers_runs_when_pasted_into_a_script(tmp_path):
    import os
    import subprocess
    import sys

    script = _script(tmp_path / "example.py", _docs_example())
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BrokenProcessPool" not in done.stderr
    assert f"{script}:" in done.stderr and "outside `if __name__ == '__main__':`" in done.stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [["saliency", "graphcut"], ["random", "graphcut"]]


def test_a_call_under_the_main_guard_may_spawn_workers(tmp_path):
    import os
    import subprocess
    import sys

    body = ("from attribkit.study._spawn import unguarded_main\n"
            "def main():\n    print('guarded', unguarded_main())\n"
            "print('top', unguarded_main())\n"
            "if __name__ == '__main__':\n    main()\n")
    script = _script(tmp_path / "guard.py", body)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [f"top {script}:8", "guarded None"]
    # python -c and interactive sessions import nothing again in a worker.
    inline = subprocess.run([sys.executable, "-c", "from attribkit.study._spawn import unguarded_main; "
                             "print(unguarded_main())"], capture_output=True, text=True, timeout=300)
    assert inline.stdout.strip() == "None", inline.stderr[-3000:]


def _lines_by_photo(out: Path) -> dict[str, int]:
    import json

    counts: dict[str, int] = {}
    for line in (out / "records" / "part-0.jsonl").read_text().splitlines():
        image = json.loads(line)["image"]
        counts[image] = counts.get(image, 0) + 1
    return counts


def test_a_resumed_study_recomputes_records_of_corrected_annotations_only(tmp_path, photos, study_registry):
    import warnings

    data = _annotate(tmp_path / "data", photos, {})
    first = _run(tmp_path / "study", data, top_k=2)
    before = _lines_by_photo(tmp_path / "study")
    # Unchanged annotations (rewritten, same content): every record is reused.
    _annotate(tmp_path / "data", photos, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = _run(tmp_path / "study", data, top_k=2)
    assert again.records == first.records and _lines_by_photo(tmp_path / "study") == before
    # photo01's box corrected, photo02's label: their records are computed again, photo00's are not.
    _annotate(tmp_path / "data", photos, {1: {"boxes": [[0, 0, 20, 20]]}, 2: {"label": "3"}})
    with pytest.warns(UserWarning, match=r"computed from other annotations.*computing them again"):
        fixed = _run(tmp_path / "study", data, top_k=2)
    after = _lines_by_photo(tmp_path / "study")
    assert after["photo00"] == before["photo00"]
    assert after["photo01"] == 2 * before["photo01"] and after["photo02"] == 2 * before["photo02"]
    boxes = {r["image"]: r for r in fixed.records if r["kind"] == "box"}
    maps = {r["image"]: r for r in fixed.records if r["kind"] == "map"}
    assert boxes["photo01"]["truth"] == [[0, 0, 21, 21]] and maps["photo02"]["target"] == 3
    assert boxes["photo00"] == {r["image"]: r for r in first.records if r["kind"] == "box"}["photo00"]
    assert len(fixed.records) == len(first.records)  # one record per key: the outdated ones are left out
    # And the next run reuses the corrected records.
    assert _run(tmp_path / "study", data, top_k=2).records == fixed.records
    assert _lines_by_photo(tmp_path / "study") == after


def test_temporary_files_of_a_killed_run_are_removed_on_resume(tmp_path, photos, study_registry):
    import subprocess
    import sys

    out = tmp_path / "study"
    _run(out, photos)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # What kill -9 mid-write leaves (attribkit.study._atomic.replacing), and another rank writing now.
        left = [out / "gallery" / f".photo00__saliency.png.{dead.pid}.part", out / f".study.json.{dead.pid}.part",
                out / "skipped" / f".part-0.json.{dead.pid}.part"]
        writing = out / "gallery" / f".photo00__photo.png.{alive.pid}.part"
        for path in [*left, writing]:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\x89PNG torn")
        _run(out, photos)
        assert [p.name for p in left if p.exists()] == [] and writing.exists()
    finally:
        alive.kill()
        alive.wait()
    assert not [p for p in out.rglob("*.part") if p != writing]


def test_the_report_says_how_many_photos_the_checks_measured(tmp_path, photos, study_registry):
    _run(tmp_path, photos, road=2, sanity=1)
    page = (tmp_path / "index.html").read_text()
    assert "ROAD photos: <code>2</code>" in page and "sanity-check photos: <code>1</code>" in page
    # Resumed with smaller numbers: the table still holds (and the header reports) what was measured.
    result = _run(tmp_path, photos, road=1, sanity=0)
    assert len({r["image"] for r in result.records if r["kind"] == "road"}) == 2
    page = (tmp_path / "index.html").read_text()
    assert "ROAD photos: <code>2</code>" in page and "sanity-check photos: <code>1</code>" in page


@pytest.mark.parametrize("entry, names", [
    ('{"file": "a.png", "label": "1", "boxes": [[0, 0, 1e999, 10]]}', ("images[0] box 0", "four numbers", "finite")),
    ('{"file": "a.png", "label": "1", "boxes": [[0, 0, true, 10]]}', ("images[0] box 0", "True")),
    ('{"file": "a.png", "label": "1", "boxes": [[0, 0, 5, 5]], "width": 1e999}', ("images[0]", "'width'")),
    ('{"file": "a.png", "label": "1", "boxes": [[0, 0, 5, 5]], "height": true}', ("images[0]", "'height'")),
    ('{"file": "a.png", "label": true, "boxes": [[0, 0, 5, 5]]}', ("images[0]", "'label'")),
])
def test_boxes_files_with_infinite_or_boolean_numbers_name_the_entry(tmp_path, entry, names):
    from attribkit.data import read_annotations
    from attribkit.errors import AnnotationError

    path = tmp_path / "boxes.json"
    path.write_text('{"images": [' + entry + ']}')  # written by hand: json.dumps cannot write 1e999
    with pytest.raises(AnnotationError) as caught:
        read_annotations(path)
    message = str(caught.value)
    assert str(path) in message and all(n in message for n in names) and "\n" not in message


def test_an_xml_box_of_1e999_names_the_file_and_object(tmp_path):
    from attribkit.data import read_annotations
    from attribkit.errors import AnnotationError

    path = tmp_path / "a.xml"
    path.write_text("<annotation><filename>a.png</filename><object><name>n01</name><bndbox><xmin>1</xmin>"
                    "<ymin>1</ymin><xmax>1e999</xmax><ymax>5</ymax></bndbox></object></annotation>")
    with pytest.raises(AnnotationError, match=r"a\.xml: object 0: a box must be four numbers.*finite"):
        read_annotations(path)


@pytest.mark.parametrize("label", ["10", "2000", "no such class"])
def test_an_out_of_range_label_names_the_annotation_file_and_entry(tmp_path, photos, label):
    from attribkit.errors import AnnotationError
    from attribkit.study._data import class_of

    data = _annotate(tmp_path, photos, {1: {"label": label}})
    model = helpers.tiny_classifier()
    with pytest.raises(AnnotationError, match=rf"boxes\.json: images\[1\]: label '{label}': .*10 classes"):
        study_images(data, class_index=lambda name: class_of(model, name))


def test_a_photo_listed_twice_in_targets_is_computed_once(tmp_path, chelsea, capsys):
    import json

    from PIL import Image

    from attribkit.cli import main

    (tmp_path / "sub").mkdir()
    Image.fromarray(chelsea).resize((120, 80)).save(tmp_path / "chelsea.jpg")
    csv = tmp_path / "targets.csv"
    # The same photo under two spellings, and one class three times (by name, again, and by index).
    csv.write_text("photo,target\nchelsea.jpg,Egyptian cat\nsub/../chelsea.jpg,Egyptian cat\nchelsea.jpg,285\n"
                   "chelsea.jpg,tabby\n")
    report = tmp_path / "r.json"
    assert main(["saliency", "--targets", str(csv), "--out", str(tmp_path / "o"), "--smooth", "0",
                 "--json", str(report)]) == 0
    photos = json.loads(report.read_text())["photos"]
    assert len(photos) == 1 and [c["label"] for c in photos[0]["classes"]] == [285, 281]
    err = capsys.readouterr().err
    assert "line 3: chelsea.jpg class 'Egyptian cat' is listed already (line 2); computed once" in err
    assert "line 4: chelsea.jpg class '285' is listed already (line 2)" in err
