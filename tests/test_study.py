"""The study runner: outputs, worker overlap, resume after Ctrl-C and kill -9, torchrun sharding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import attribkit
from attribkit.study import StudyImage, read_records, run_study, study_images

import _study_helpers as helpers

SCRIPT = Path(__file__).with_name("_study_script.py")
METHODS = ["saliency", "random"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    helpers.write_photos(folder, 6)
    return folder


def _run(out: Path, photos: Path, *, workers: int = 0, **kw):
    # One thread, like the script's subprocesses (OMP_NUM_THREADS=1), so every run does the same float
    # operations in the same order and records can be compared bit for bit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_study(
            helpers.tiny_classifier(), photos, methods=METHODS, localisers=["above_mean"],
            localiser_options={"above_mean": {"noise": 0.5}}, out=out, workers=workers, steps=4,
            gallery=2, progress=False, road=3, sanity=2, **kw,
        )
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, photos):
    """An uninterrupted single-process run: what every other way of running must reproduce."""
    attribkit.reset_registry()
    helpers.install_registry()
    try:
        result = _run(tmp_path_factory.mktemp("reference"), photos)
    finally:
        attribkit.reset_registry()
    return result


def _same_results(out: Path, reference) -> None:
    records = read_records(out)
    assert records == reference.records
    assert (out / "results.csv").read_text() == (reference.out / "results.csv").read_text()
    # Nothing was computed twice: one line per key across all record files.
    lines = sum(len(p.read_text().splitlines()) for p in (out / "records").glob("*.jsonl"))
    assert lines == len(records)


def test_study_writes_records_table_plots_and_static_html(reference, photos):
    out = reference.out
    records = reference.records
    # photos x methods x (one map + one box), and the checks on the first photos: ROAD 3, sanity 2.
    assert len(records) == 6 * 2 * 2 + 3 * 2 + 2 * 2
    assert sorted({r["image"] for r in records if r["kind"] == "road"}) == ["photo00", "photo01", "photo02"]
    assert sorted({r["image"] for r in records if r["kind"] == "sanity"}) == ["photo00", "photo01"]
    maps = [r for r in records if r["kind"] == "map"]
    assert all(0 <= r["deletion_auc"] <= 1 and 0 <= r["insertion_auc"] <= 1 for r in maps)
    assert all(len(r["deletion_curve"]) == 5 and r["fractions"] == [0, 0.25, 0.5, 0.75, 1] for r in maps)
    boxes = [r for r in records if r["kind"] == "box"]
    assert all(r["iou"] is None and len(r["box"]) == 4 for r in boxes)  # the folder has no ground truth
    assert [(row.method, row.localiser, row.images) for row in reference.rows] == [
        ("saliency", "above_mean", 6), ("random", "above_mean", 6)]
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("method,localiser,images,deletion_auc,deletion_auc_low,deletion_auc_high,")
    assert "road_morf,road_morf_low,road_morf_high" in csv[0] and csv[0].endswith(",sanity")
    assert len(csv) == 3
    assert (out / "results.md").read_text().startswith("| method")
    for name in ("metrics.png", "curves.png", "sanity.png", "gallery.png", "index.html"):
        assert (out / name).stat().st_size > 1000
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    gallery = sorted(p.name for p in (out / "gallery").glob("*.png"))
    assert gallery == sorted(
        [f"photo0{i}__photo.png" for i in (0, 1)]
        + [f"photo0{i}__{m}.png" for i in (0, 1) for m in METHODS]
        + [f"photo0{i}__{m}__above_mean.png" for i in (0, 1) for m in METHODS]
    )
    for name in gallery:
        assert f"gallery/{name}" in page


def test_worker_processes_give_the_same_records(tmp_path, photos, reference, study_registry):
    _run(tmp_path, photos, workers=2)
    _same_results(tmp_path, reference)


def test_a_finished_study_computes_nothing_again(reference, study_registry, photos, monkeypatch):
    before = (reference.out / "records" / "part-0.jsonl").read_text()
    monkeypatch.setattr(helpers.AboveMean, "localise", lambda *a: pytest.fail("recomputed"))
    result = _run(reference.out, photos)
    assert result.records == reference.records
    assert (reference.out / "records" / "part-0.jsonl").read_text() == before


def _script(out: Path, photos: Path, workers: int, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Output to a file, not a pipe: after kill -9 an orphaned worker may hold a pipe open for a moment.
    log = open(out.parent / f"log-{time.monotonic_ns()}.txt", "w+")
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(photos), str(workers), str(delay)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def _lines(out: Path) -> int:
    """Finished records: complete lines only. (A torn last line is not one: counting it made the Ctrl-C
    below land at the resumed process's start-up, before it had written anything.)"""
    return sum(p.read_text().count("\n") for p in (out / "records").glob("*.jsonl")) \
        if (out / "records").is_dir() else 0


def _interrupt_after(proc: subprocess.Popen, out: Path, lines: int, sig: int) -> int:
    deadline = time.monotonic() + 120
    while _lines(out) < lines:
        assert proc.poll() is None, f"finished before the interruption: {_output(proc)}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return _lines(out)


def _killed_run(out: Path, photos: Path) -> int:
    """kill -9 a run while a worker process is starting or localising, then tear its last write."""
    killed = _interrupt_after(_script(out, photos, workers=1, delay=0.2), out, 4, signal.SIGKILL)
    assert 4 <= killed < 24
    # A write torn by the kill: a partial last line is dropped and recomputed.
    with open(out / "records" / "part-0.jsonl", "a") as f:
        f.write('{"kind": "box", "image": "photo0')
    return killed


def _resume_to_the_end(out: Path, photos: Path, reference) -> None:  # type: ignore[no-untyped-def]
    """Resume with two worker processes; the result must equal the uninterrupted run's."""
    proc = _script(out, photos, workers=2)
    assert proc.wait(timeout=300) == 0, _output(proc)
    _same_results(out, reference)


@pytest.mark.slow
def test_resume_after_kill_9_equals_an_uninterrupted_run(tmp_path, photos, reference):
    out = tmp_path / "study"
    _killed_run(out, photos)
    _resume_to_the_end(out, photos, reference)


@pytest.mark.slow
def test_resume_after_kill_9_and_ctrl_c_equals_an_uninterrupted_run(tmp_path, photos, reference):
    out = tmp_path / "study"
    killed = _killed_run(out, photos)
    # Ctrl-C in a serial run; a longer delay per job keeps it busy when the interrupt arrives.
    proc = _script(out, photos, workers=0, delay=0.5)
    stopped = _interrupt_after(proc, out, killed + 1, signal.SIGINT)
    # Interrupted by the Ctrl-C mid-run, not finished: Python reports the KeyboardInterrupt and ends by
    # the signal itself (returncode -SIGINT).
    output = _output(proc)
    assert proc.returncode == -signal.SIGINT and "KeyboardInterrupt" in output, (proc.returncode, output)
    assert killed < stopped < 24
    _resume_to_the_end(out, photos, reference)


@pytest.mark.slow
def test_torchrun_shards_and_the_merged_table_equals_a_single_run(tmp_path, photos, reference):
    out = tmp_path / "study"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(SCRIPT), str(out), str(photos), "0"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parts = sorted(p.name for p in (out / "records").glob("*.jsonl"))
    assert parts == ["part-0.jsonl", "part-1.jsonl"]
    # Rank-strided: rank r got photos r, r + 2, r + 4.
    for rank in (0, 1):
        lines = (out / "records" / f"part-{rank}.jsonl").read_text().splitlines()
        names = {json.loads(line)["image"] for line in lines}
        assert names == {f"photo{i:02d}" for i in range(rank, 6, 2)}
    _same_results(out, reference)


def test_study_images_from_samples_folders_and_lists(tmp_path, photos):
    assert [i.name for i in study_images("samples:coffee,chelsea")] == ["coffee", "chelsea"]
    assert len(study_images("samples")) == 7
    assert [i.name for i in study_images(photos)][:2] == ["photo00", "photo01"]
    with pytest.raises(ValueError, match="unknown sample photo"):
        study_images("samples:kitten")
    with pytest.raises(ValueError, match="no such file"):
        study_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photos"):
        study_images(tmp_path / "empty")
    with pytest.raises(ValueError, match="unique"):
        study_images([photos / "photo00.png", tmp_path / "photo00.png"])


def test_ground_truth_boxes_give_localisation_metrics(tmp_path, photos, study_registry):
    from attribkit.metrics import iou, max_box_acc, pointing_game

    # The bright square of photo i is at rows 8..24, cols 10+i..30+i of the photo.
    truth = {f"p{i}": (10 + i, 8, 30 + i, 24) for i in range(3)}
    items = [StudyImage(f"p{i}", photos / f"photo{i:02d}.png", label=3, boxes=(truth[f"p{i}"],)) for i in range(3)]
    result = run_study(helpers.tiny_classifier(), items, methods=["saliency"], localisers=["above_mean"],
                       out=tmp_path, workers=0, steps=0, gallery=1, progress=False)
    boxes = [r for r in result.records if r["kind"] == "box"]
    assert [r["iou"] for r in boxes] == [pytest.approx(iou(r["box"], truth[r["image"]])) for r in boxes]
    maps = [r for r in result.records if r["kind"] == "map"]
    assert all(r["target"] == 3 and r["pointing"] in (0.0, 1.0) and len(r["box_acc"]) == 100 for r in maps)
    row = result.rows[0]
    assert row.loc_accuracy == np.mean([r["iou"] >= 0.5 for r in boxes])
    assert row.mean_iou == pytest.approx(np.mean([r["iou"] for r in boxes]))
    assert row.deletion_auc is None  # steps=0: no curves
    # Per-photo records aggregate to what the metric functions give on all photos at once.
    model = helpers.tiny_classifier()
    photo_maps = []
    for item in items:
        image = attribkit.load_image(item.source, model)
        grads = attribkit.create_attributor("saliency", model).attribute(image.tensor, target=3)
        from attribkit.localisation._maps import photo_saliency

        photo_maps.append(photo_saliency(attribkit.saliency_map(grads)[0].numpy(), image.geometry))
    gts = [[truth[i.name]] for i in items]
    assert row.pointing == pytest.approx(pointing_game(photo_maps, gts))
    assert row.max_box_acc == pytest.approx(max_box_acc(photo_maps, gts).value)


def test_bad_arguments_are_clear_errors(tmp_path, photos, study_registry):
    model = helpers.tiny_classifier()
    with pytest.raises(attribkit.UnknownMethodError, match="salincy"):
        run_study(model, photos, methods=["salincy"], out=tmp_path)
    with pytest.raises(attribkit.UnknownMethodError, match="localiser"):
        run_study(model, photos, methods=["saliency"], localisers=["nope"], out=tmp_path)
    with pytest.raises(ValueError, match="at least one method"):
        run_study(model, photos, methods=[], out=tmp_path)
    with pytest.raises(TypeError):
        run_study(model, photos, methods=["saliency"], localisers=["above_mean"], out=tmp_path,
                  localiser_options={"above_mean": {"colour": 1}})


def test_cli_study_on_a_sample_photo(tmp_path, capsys, fresh_registry):
    from attribkit.cli import main

    assert main(["study", "--methods", "saliency,random", "--data", "samples:coffee", "--out", str(tmp_path),
                 "--steps", "2", "--workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| method") and "index.html" in printed
    assert (tmp_path / "results.csv").read_text().count("\n") == 3
    assert main(["study", "--methods", "saliency", "--data", "samples", "--out", str(tmp_path),
                 "--options", '{"graphcut": {}}']) == 2
    assert "not in --methods or --localisers" in capsys.readouterr().err
