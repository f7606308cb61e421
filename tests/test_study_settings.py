"""One dataset runner: study settings, maps in batches, and ``evaluate`` as a report over the records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import attribkit
from attribkit.localisation import _maps
from attribkit.metrics import localisation_error
from attribkit.study import Setting, StudyImage, evaluate, named_settings, read_records, run_study
from attribkit.study import _batches, _compute, _loader
from attribkit.study._records import read_timings
from attribkit.study._settings import cross_settings

import _study_helpers as helpers


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    return helpers.write_photos(tmp_path_factory.mktemp("photos"), 6)


def _annotated(photos: list[Path]) -> list[StudyImage]:
    # The bright square of photo i is at rows 8..24, cols 10+i..30+i; labels vary so some are in the top-5.
    return [StudyImage(f"p{i}", p, label=i % 4, boxes=((10 + i, 8, 30 + i, 24),)) for i, p in enumerate(photos)]


SETTINGS = [
    Setting("plain", localiser="above_mean", preset=None),
    Setting("plain, noisy cut", localiser="above_mean", preset=None, localiser_options={"noise": 0.5}),
    Setting("smoothgrad", localiser="above_mean", preset=None, options={"smoothgrad": 4}),
    Setting("ten crop", localiser="above_mean", preset=None, options={"ten_crop": True}),
]


def _alone(model, image, targets, **options):  # type: ignore[no-untyped-def]
    """The photo's maps by the one-photo path (its own forward pass), ``[K, H, W]``."""
    return attribkit.saliency(model, image, target=targets, **options).maps


def test_batched_maps_equal_per_photo_maps_within_1e_6(photos):
    """``crop_maps`` on a batch of photos (as the study calls it) against ``attribkit.saliency`` photo by
    photo, for saliency plain, 10-crop and SmoothGrad.

    Not bit-exact: the tiny network's plain gradient differs by up to ~3e-7 of the map's maximum between a
    batch of 6 and a batch of 1 (PyTorch's kernels sum in another order for another batch size).
    """
    model = helpers.tiny_classifier()
    images = [attribkit.load_image(p, model) for p in photos]
    x = torch.cat([i.tensor for i in images])
    targets = torch.tensor([[1, 2, 3], [0, 4, 9], [5, 5, 6], [7, 8, 1], [2, 2, 2], [3, 0, 9]])
    for options in ({}, {"ten_crop": True}, {"smoothgrad": 5, "noise": 0.2}):
        attributor = attribkit.create_attributor("saliency", model, **options)
        batched = _maps.crop_maps(attributor, x, targets)
        assert batched.shape == (6, 3, 32, 32)
        for i, image in enumerate(images):
            alone = _alone(model, image, targets[i].tolist(), **options)
            scale = float(np.abs(alone).max())
            np.testing.assert_allclose(batched[i].numpy(), alone, rtol=0, atol=1e-6 * scale, err_msg=str(options))


def test_padding_helpers():
    with pytest.raises(ValueError, match="1 to 2 classes"):
        _batches.pad_rows([[1, 2, 3]], 2)
    assert _batches.pad_rows([[1], [4, 5]], 3) == [[1, 1, 1], [4, 5, 5]]
    assert _batches.pad_batch(torch.arange(2), 4).tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="exceeds"):
        _batches.pad_batch(torch.arange(5), 4)


def test_records_do_not_depend_on_which_photos_share_a_batch(tmp_path, photos, study_registry, one_thread):
    items = _annotated(photos)
    shuffled = [items[i] for i in (5, 3, 1, 0, 2, 4)]
    kw = dict(settings=SETTINGS[:2], workers=0, steps=2, gallery=0, progress=False, map_batch=4)
    a = run_study(helpers.tiny_classifier(), items, out=tmp_path / "a", **kw)
    b = run_study(helpers.tiny_classifier(), shuffled, out=tmp_path / "b", **kw)
    assert a.records == b.records


@pytest.mark.slow
def test_map_metrics_run_in_the_workers_and_records_equal_the_serial_ones(tmp_path, photos, study_registry,
                                                                         one_thread, monkeypatch):
    """Issue 23: with ``workers``, MaxBoxAcc V1/V2 and the pointing game leave the main process (on a GPU
    they bounded the study there), and the record files are the same, line for line and in order."""
    import attribkit.metrics

    items = _annotated(photos)
    kw = dict(settings=SETTINGS[:2], steps=2, gallery=1, progress=False, map_batch=4, road=2, sanity=1)
    serial = run_study(helpers.tiny_classifier(), items, out=tmp_path / "serial", workers=0, **kw)
    for name in ("max_box_acc", "max_box_acc_v2", "pointing_game"):
        monkeypatch.setattr(attribkit.metrics, name, lambda *a, **k: pytest.fail("map metrics in the main process"))
    pooled = run_study(helpers.tiny_classifier(), items, out=tmp_path / "pooled", workers=2, **kw)
    assert pooled.records == serial.records
    assert all("box_acc_v2" in r and "deletion_auc" in r and "thumbnail" in r for r in serial.records if r["kind"] == "map")
    lines = {run: (tmp_path / run / "records" / "part-0.jsonl").read_text() for run in ("serial", "pooled")}
    assert lines["pooled"] == lines["serial"]


def test_a_setting_list_with_map_options(tmp_path, photos, study_registry, one_thread, monkeypatch):
    calls = []
    real = _compute.crop_maps

    def counted(attributor, x, targets):  # type: ignore[no-untyped-def]
        calls.append((x.shape[0], targets.shape[1], type(attributor).__name__))
        return real(attributor, x, targets)

    monkeypatch.setattr(_compute, "crop_maps", counted)
    items = _annotated(photos)
    result = run_study(helpers.tiny_classifier(), items, settings=SETTINGS, out=tmp_path, workers=0, steps=0,
                       gallery=1, progress=False, map_batch=4)
    maps = [r for r in result.records if r["kind"] == "map"]
    labels = sorted({r["method"] for r in maps})
    assert labels == ["saliency", "saliency[smoothgrad=4]", "saliency[ten_crop=True]"]
    assert len(maps) == 6 * 3  # "plain" and "plain, noisy cut" share one map per photo
    # Three maps × two batches of four photos (the second padded), six classes each (top-5 + truth).
    assert sorted(calls) == sorted([(4, 6, "Saliency")] * 2 + [(4, 6, "SmoothGrad")] * 2
                                   + [(4, 6, "TenCrop")] * 2)
    assert [(row.setting, row.method, row.images) for row in result.rows] == [
        ("plain", "saliency", 6), ("plain, noisy cut", "saliency", 6),
        ("smoothgrad", "saliency[smoothgrad=4]", 6), ("ten crop", "saliency[ten_crop=True]", 6)]
    assert {r["localiser"] for r in result.records if r["kind"] == "box"} == {"above_mean", "above_mean[noise=0.5]"}
    # The SmoothGrad setting's records come from the SmoothGrad map of each photo.
    model = helpers.tiny_classifier()
    from attribkit.localisation._maps import photo_saliency
    from attribkit.metrics import pointing_game

    for item in items:
        image = attribkit.load_image(item.source, model)
        alone = _alone(model, image, [item.label], smoothgrad=4)[0]
        record = next(r for r in maps if r["image"] == item.name and r["method"] == "saliency[smoothgrad=4]")
        assert record["pointing"] == pointing_game([photo_saliency(alone, image.geometry)], [item.boxes])
    # Top-5 boxes are recorded for photos with ground truth.
    boxes = [r for r in result.records if r["kind"] == "box"]
    assert all(len(r["guesses"]) == 5 and r["truth"] and r["target"] in range(4) for r in boxes)
    # The first photo's gallery: the photo, each distinct map, each (map, localiser).
    assert len(list((tmp_path / "gallery").glob("p0__*.png"))) == 1 + 3 + 4


def _naive_rows(records, settings, names):  # type: ignore[no-untyped-def]
    """The evaluate table recomputed from the records with plain loops and the metric functions."""
    from attribkit.metrics import gt_known_accuracy

    n = len(names)
    subsets = {"all": names, f"1-{n // 2}": names[: n // 2], f"{n // 2 + 1}-{n}": names[n // 2 :]}
    out = []
    for s in settings:
        r = s.resolve()
        for subset, chosen in subsets.items():
            maps = [next(x for x in records if x["kind"] == "map" and x["image"] == i and x["method"] == r.map_label)
                    for i in chosen]
            boxes = [next(x for x in records if x["kind"] == "box" and x["image"] == i and x["method"] == r.map_label
                          and x["localiser"] == r.localiser_label) for i in chosen]
            truths = [b["truth"] for b in boxes]
            ground = [[(b["target"], t) for t in b["truth"]] for b in boxes]
            guesses = [[tuple(g) for g in b["guesses"]] for b in boxes]
            acc = np.mean([m["box_acc"] for m in maps], axis=0)
            out.append((s.name, subset, len(chosen), gt_known_accuracy([b["box"] for b in boxes], truths),
                        localisation_error(guesses, ground, k=1), localisation_error(guesses, ground, k=5),
                        float(acc.max()), float(np.mean([m["pointing"] for m in maps]))))
    return out


def test_evaluate_table_equals_a_naive_recomputation_from_the_records(tmp_path, photos, study_registry):
    # Ground truth that some answers hit: each photo labelled with the model's top class, and for every
    # other photo the truth is the box the plain setting finds (so the errors are neither 0 nor 1).
    model = helpers.tiny_classifier()
    with torch.no_grad():
        top = [int(model(attribkit.load_image(p, model).tensor).argmax()) for p in photos]
    probe = [StudyImage(f"p{i}", p, label=top[i], boxes=((0, 0, 4, 4),)) for i, p in enumerate(photos)]
    found = {r["image"]: r["box"] for r in evaluate(model, probe, settings=SETTINGS[:1], out=tmp_path / "probe",
                                                    progress=False).records if r["kind"] == "box"}
    items = [StudyImage(i.name, i.source, i.label, (tuple(found[i.name]),) if n % 2 == 0 else ((10, 8, 30, 24),))
             for n, i in enumerate(probe)]
    tmp_path = tmp_path / "eval"
    result = evaluate(model, items, settings=SETTINGS, out=tmp_path, progress=False, map_batch=4)
    rows = [(r.setting, r.subset, r.images, r.loc_accuracy, r.top1_error, r.top5_error, r.max_box_acc, r.pointing)
            for r in result.rows]
    naive = _naive_rows(read_records(tmp_path), SETTINGS, [i.name for i in items])
    assert [row[:3] for row in rows] == [row[:3] for row in naive]
    for got, want in zip(rows, naive):
        assert got[3:] == pytest.approx(want[3:], abs=1e-12)
    # The top-k errors are not trivially 0 or 1 on these photos, so the comparison means something.
    assert {r.top5_error for r in result.rows} - {0.0, 1.0}
    # ms per photo: each setting's map and cuts, from the timings beside the records.
    timings = read_timings(tmp_path)
    plain = result.rows[0]
    want = np.mean([timings[("map", i.name, "saliency", "")] + timings[("box", i.name, "saliency", "above_mean")]
                    for i in items])
    assert plain.ms_per_photo == pytest.approx(want)
    text = (tmp_path / "metrics.md").read_text()
    assert "| ten crop | 6 | all |" in text and "| plain | 3 | 4-6 |" in text
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == (
        "setting,subset,images,gt_known,top1_error,top5_error,max_box_acc,max_box_acc_v2,pointing,ms_per_photo,"
        "gt_known_low,gt_known_high,vs_centre,vs_centre_low,vs_centre_high,vs_centre_p,fallbacks")
    # MaxBoxAccV2 from the records, naively: per IoU threshold the best map threshold over all photos.
    records = read_records(tmp_path)
    by_name = {s.name: s for s in SETTINGS}
    for row in result.rows:
        if row.subset != "all":
            continue
        label = by_name[row.setting].resolve().map_label
        tables = np.array([r["box_acc_v2"] for r in records if r["kind"] == "map" and r["method"] == label])
        assert row.max_box_acc_v2 == pytest.approx(tables.mean(0).max(1).mean())
    # Intervals bracket the accuracy.
    for name, u in result.uncertainty.items():
        row = next(r for r in result.rows if r.setting == name and r.subset == "all")
        assert u.low <= row.loc_accuracy <= u.high


def test_evaluate_resumed_computes_nothing_again(tmp_path, photos, study_registry, monkeypatch):
    items = _annotated(photos)
    first = evaluate(helpers.tiny_classifier(), items, settings=SETTINGS[:3], out=tmp_path, progress=False)
    files = {p: p.read_text() for p in (tmp_path / "records").glob("*.jsonl")}
    # Photos are decoded by the loader since --loader-workers (study/_loader.py), maps made by _compute.
    monkeypatch.setattr(_loader, "load_image", lambda *a, **k: pytest.fail("recomputed"))
    for name in ("crop_maps", "localise_job"):
        monkeypatch.setattr(_compute, name, lambda *a, **k: pytest.fail("recomputed"))
    again = evaluate(helpers.tiny_classifier(), items, settings=SETTINGS[:3], out=tmp_path, progress=False)
    assert again.records == first.records
    assert [r.setting for r in again.rows] == [r.setting for r in first.rows]
    assert {p: p.read_text() for p in (tmp_path / "records").glob("*.jsonl")} == files
    # A longer list computes only its new setting.
    monkeypatch.undo()
    more = evaluate(helpers.tiny_classifier(), items, settings=SETTINGS, out=tmp_path, progress=False)
    added = {(r["method"], r["localiser"]) for r in more.records} - {(r["method"], r["localiser"]) for r in first.records}
    assert added == {("saliency[ten_crop=True]", ""), ("saliency[ten_crop=True]", "above_mean")}


def test_cli_evaluate_resumes(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from attribkit.cli import main
    from attribkit.data import synthetic_images

    entries = []
    for i, (rgb, _, box) in enumerate(synthetic_images(2, size=(120, 160))):
        Image.fromarray(rgb).save(tmp_path / f"p{i}.png")
        entries.append({"file": f"p{i}.png", "label": "Egyptian cat", "boxes": [list(box)]})
    import json

    (tmp_path / "boxes.json").write_text(json.dumps({"images": entries}))
    argv = ["evaluate", "--data", str(tmp_path / "boxes.json"), "--out", str(tmp_path / "eval"), "--localiser",
            "threshold", "--preset", "paper", "--examples", "1", "--top-k", "2"]
    assert main(argv) == 0
    table = (tmp_path / "eval" / "metrics.md").read_text()
    pictures = sorted(p.name for p in (tmp_path / "eval" / "examples").glob("*.png"))
    assert pictures
    monkeypatch.setattr(_loader, "load_image", lambda *a, **k: pytest.fail("recomputed"))
    monkeypatch.setattr(_compute, "crop_maps", lambda *a, **k: pytest.fail("recomputed"))
    monkeypatch.setattr(_maps, "crop_maps", lambda *a, **k: pytest.fail("recomputed"))
    assert main(argv) == 0
    assert (tmp_path / "eval" / "metrics.md").read_text().split("\n")[:4] == table.split("\n")[:4]


def test_settings_errors(tmp_path, photos, study_registry):
    model = helpers.tiny_classifier()
    with pytest.raises(ValueError, match="not both"):
        run_study(model, photos, methods=["saliency"], settings=SETTINGS, out=tmp_path)
    with pytest.raises(ValueError, match="unique"):
        run_study(model, photos, settings=[SETTINGS[0], SETTINGS[0]], out=tmp_path)
    with pytest.raises(ValueError, match="at least one setting"):
        run_study(model, photos, settings=[], out=tmp_path)
    with pytest.raises(ValueError, match="different attributor options"):
        run_study(model, photos, out=tmp_path, settings=[
            Setting("a", "random", None, None), Setting("b", "random", None, None, attributor_options={"seed": 1})])
    with pytest.raises(ValueError, match="unknown preset"):
        run_study(model, photos, settings=[Setting("a", preset="papr")], out=tmp_path)
    with pytest.raises(attribkit.UnknownMethodError, match="graphcutt"):
        run_study(model, photos, settings=[Setting("a", localiser="graphcutt")], out=tmp_path)
    with pytest.raises(TypeError):
        run_study(model, photos, settings=[Setting("a", localiser="above_mean", preset=None,
                                                   options={"colour": 1})], out=tmp_path)
    with pytest.raises(KeyError, match="standard"):
        named_settings("abl")


def test_named_settings_resolve_to_shared_maps():
    resolved = [s.resolve() for s in named_settings("ablation")]
    labels = {r.map_label for r in resolved}
    assert labels == {
        "gradcam", "gradcam[ten_crop=True]", "gradcam[scales=(2.0,)]", "saliency", "saliency[ten_crop=True]",
        "guided_backprop", "deconvnet[ten_crop=True]",
    }
    standard = [s.resolve() for s in named_settings("standard")]
    # The paper preset's maps are the 10-crop average (docs/paper.md); the gradient preset's are plain.
    assert [r.map_label for r in standard] == [
        "gradcam", "saliency", "saliency[ten_crop=True]", "gradcam", "gradcam"]
    assert standard[0].localiser_label.startswith("threshold[") and standard[3].localiser_label == "centre"
    assert standard[1].localiser_label.startswith("graphcut[") and standard[4].localiser_label == "centre[area=1.0]"
    assert len({r.localiser_label for r in resolved if r.localiser_label}) == len(
        {(r.setting.localiser, repr(sorted(r.localiser_options.items()))) for r in resolved})
    assert math.isclose(resolved[0].map_options["noise"], 0.15)


def test_averaging_options_given_as_method_options_shape_the_maps(tmp_path, photos, study_registry):
    """``--options '{"saliency": {"ten_crop": true}}'``: averaging options among a method's options go to
    the averaging (they used to reach the attributor twice: "got multiple values for 'ten_crop'")."""
    (setting,) = cross_settings(["saliency"], ["above_mean"],
                                method_options={"saliency": {"ten_crop": True, "eval_mode": True}})
    resolved = setting.resolve()
    assert resolved.map_options["ten_crop"] is True and resolved.attributor_options == {"eval_mode": True}
    result = run_study(helpers.tiny_classifier(), photos[:2], settings=[setting], out=tmp_path, steps=0,
                       gallery=0, progress=False)
    assert {r["method"] for r in result.records if r["kind"] == "map"} == {"saliency[ten_crop=True]"}
