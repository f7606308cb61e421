"""The study's ROAD and sanity-check records, the intervals in its tables and its paired comparisons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from attribkit.errors import OptionError
from attribkit.metrics import bootstrap_interval, model_randomisation, paired_difference, parameter_layers, road
from attribkit.study import run_study, summarise
from attribkit.study._summary import SANITY_THRESHOLD, comparisons, to_csv, to_markdown

import _study_helpers as helpers


#: Records compared bit for bit: one torch thread for every test here (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    helpers.write_photos(folder, 3)
    return folder


def _run(out: Path, photos: Path, **kw):  # type: ignore[no-untyped-def]
    options = {"methods": ["saliency", "random"], "steps": 2, "gallery": 0, "workers": 0, **kw}
    return run_study(helpers.tiny_classifier(), photos, out=out, progress=False, **options)


# -- the records are the metrics called directly ------------------------------------------------------


def test_road_and_sanity_records_are_the_metrics_called_directly(tmp_path, photos, study_registry):
    from attribkit import create_attributor
    from attribkit.data import load_image
    from attribkit.localisation._maps import crop_maps
    from attribkit.study._checks import seed_of

    result = _run(tmp_path, photos, road=2, sanity=1, map_batch=1)
    model = helpers.tiny_classifier()
    records = {(r["kind"], r["image"], r["method"]): r for r in result.records}
    assert {k for k in records if k[0] == "road"} == {("road", f"photo0{i}", m) for i in (0, 1)
                                                      for m in ("saliency", "random")}
    assert {k for k in records if k[0] == "sanity"} == {("sanity", "photo00", m) for m in ("saliency", "random")}
    x = load_image(photos / "photo01.png", model).tensor
    target = records[("map", "photo01", "saliency")]["target"]
    saliency = crop_maps(create_attributor("saliency", model), x, torch.tensor([[target]]))[:, 0]
    for order in ("morf", "lerf"):
        direct = road(model, x, saliency, [target], order=order, seed=seed_of("photo01", "saliency", order))
        assert records[("road", "photo01", "saliency")][order] == direct.scores[0].tolist()
    x0 = load_image(photos / "photo00.png", model).tensor
    target0 = records[("map", "photo00", "saliency")]["target"]
    direct_check = model_randomisation(model, x0, [target0], lambda m: create_attributor("saliency", m))
    sanity = records[("sanity", "photo00", "saliency")]
    assert sanity["layers"] == list(direct_check.layers) == ["7", "3", "0"]  # the tiny net's three layers
    np.testing.assert_allclose(sanity["spearman_abs"], direct_check.per_input["spearman_abs"][:, 0], atol=1e-6)
    # The gradient depends on the weights; a seeded random map does not: the sanity check says so.
    rows = {row.method: row for row in result.rows}
    assert rows["random"].randomisation == 1.0 and rows["random"].sanity == "too few"  # one photo: no verdict
    assert rows["saliency"].randomisation < 1.0


def test_checks_go_to_the_first_photos_and_can_be_added_later_but_not_changed(tmp_path, photos, study_registry):
    first = _run(tmp_path, photos)
    assert not any(r["kind"] in ("road", "sanity") for r in first.records)
    assert "road" not in json.loads((tmp_path / "study.json").read_text())
    grown = _run(tmp_path, photos, road=1, sanity=2)
    # The earlier records are kept as they were; only the checks were computed.
    assert [r for r in grown.records if r["kind"] in ("map", "box")] == first.records
    assert sorted(r["image"] for r in grown.records if r["kind"] == "road") == ["photo00", "photo00"]
    stored = json.loads((tmp_path / "study.json").read_text())
    assert stored["road"]["fractions"][0] == 0.1 and stored["sanity"]["layers"] == ["7", "3", "0"]
    # A resume without the options keeps the settings and records; other check settings are refused.
    again = _run(tmp_path, photos)
    assert again.records == grown.records and "sanity" in json.loads((tmp_path / "study.json").read_text())
    stored["road"]["noise"] = 0.05
    (tmp_path / "study.json").write_text(json.dumps(stored))
    with pytest.raises(OptionError, match="road settings.*another --out"):
        _run(tmp_path, photos, road=1)
    with pytest.raises(ValueError, match="road must be >= 0"):
        _run(tmp_path / "x", photos, road=-1)


# -- tables from records ------------------------------------------------------------------------------


def _records(method: str, spearman: list[float], morf: list[float], hits: list[int]) -> list[dict]:
    out = []
    for i, (s, m, h) in enumerate(zip(spearman, morf, hits)):
        image = f"p{i:02d}"
        out.append({"kind": "map", "image": image, "method": method, "localiser": "", "pointing": float(h)})
        out.append({"kind": "road", "image": image, "method": method, "localiser": "", "fractions": [0.1, 0.5],
                    "morf": [m, m], "lerf": [1 - m, 1 - m]})
        out.append({"kind": "sanity", "image": image, "method": method, "localiser": "", "layers": ["fc", "conv"],
                    "spearman": [s, s], "spearman_abs": [s, s], "ssim": [s, s], "hog": [s, s]})
    return out


def test_every_mean_has_its_bootstrap_interval_and_the_sanity_verdict_follows_it():
    rng = np.random.default_rng(0)
    low = list(rng.uniform(0.0, 0.2, 40))
    high = list(rng.uniform(0.8, 1.0, 40))
    straddling = [0.1, 0.9] * 20
    records = (_records("a", low, list(rng.uniform(0, 0.2, 40)), [1] * 30 + [0] * 10)
               + _records("b", high, list(rng.uniform(0.5, 0.7, 40)), [1] * 29 + [0] * 11)
               + _records("c", straddling, [0.5] * 40, [0, 1] * 20))
    rows = {r.method: r for r in summarise(records, methods=["a", "b", "c"])}
    assert (rows["a"].sanity, rows["b"].sanity, rows["c"].sanity) == ("pass", "fail", "unclear")
    few = {r.method: r.sanity for r in summarise([r for r in records if r["image"] < "p07"], methods=["a", "b"])}
    assert few == {"a": "too few", "b": "too few", "c": "too few"}  # 7 photos: below SANITY_MIN_PHOTOS
    assert rows["a"].randomisation == pytest.approx(np.mean(low))
    assert rows["a"].intervals["randomisation"] == bootstrap_interval(low)
    assert rows["a"].intervals["randomisation"][1] < SANITY_THRESHOLD <= rows["b"].intervals["randomisation"][0]
    assert rows["a"].road_morf == pytest.approx(np.mean([r["morf"][0] for r in records[:120] if r["kind"] == "road"]))
    for row in rows.values():
        for metric in ("pointing", "road_morf", "road_lerf", "randomisation"):
            lo, hi = row.intervals[metric]
            assert lo <= getattr(row, metric) <= hi
    text = to_markdown(list(rows.values()))
    assert "0.750 [" in text and "| pass" in text and "deletion_auc" not in text  # unmeasured: not shown
    header = to_csv(list(rows.values())).splitlines()[0].split(",")
    assert header[header.index("pointing") + 1 : header.index("pointing") + 3] == ["pointing_low", "pointing_high"]
    # a and b point alike (30 vs 29 of 40 photos: not distinguishable); ROAD MoRF tells them apart.
    section = comparisons(list(rows.values()))
    pointing = next(line for line in section.splitlines() if line.startswith("- `pointing`"))
    assert "best `a` 0.750" in pointing and "`b` (-0.025" in pointing
    morf = next(line for line in section.splitlines() if line.startswith("- `road_morf`"))
    assert "best `a`" in morf and "every other row differs" in morf
    diff = paired_difference([r["morf"][0] for r in records if r["kind"] == "road" and r["method"] == "b"],
                             [r["morf"][0] for r in records if r["kind"] == "road" and r["method"] == "a"])
    assert diff.distinguishable and diff.p_value < 0.05


def test_max_box_acc_intervals_resample_photos_not_thresholds():
    hits = np.zeros((50, 100))
    hits[:30, 40:60] = 1  # 30 of 50 photos right at thresholds 0.40-0.59
    statistic = lambda rows: float(rows.mean(axis=0).max())  # noqa: E731
    low, high = bootstrap_interval(hits, statistic=statistic)
    assert low < 0.6 < high and 0.4 < low and high < 0.8
    assert bootstrap_interval(hits[:, 50], statistic=lambda v: float(v.mean())) == bootstrap_interval(hits[:, 50])
    assert bootstrap_interval(np.ones((5, 3)), statistic=lambda r: float(r.sum())) == (15.0, 15.0)


def test_parameter_layers_in_blocks():
    model = torch.nn.Sequential()
    model.add_module("stem", torch.nn.Conv2d(3, 4, 3))
    blocks = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4))
                                   for _ in range(3)])
    model.add_module("blocks", blocks)
    model.add_module("pool", torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()))
    model.add_module("head", torch.nn.Linear(4, 2))
    x = torch.zeros(1, 3, 8, 8)
    assert parameter_layers(model, x) == ("head", "blocks.2.1", "blocks.2.0", "blocks.1.1", "blocks.1.0",
                                          "blocks.0.1", "blocks.0.0", "stem")
    assert parameter_layers(model, x, blocks=3) == ("head", "blocks", "stem")
    assert parameter_layers(model, x, blocks=4) == ("head", "blocks.2", "blocks.1", "blocks.0", "stem")
    assert parameter_layers(model, x, blocks=100) == parameter_layers(model, x)
    with pytest.raises(ValueError, match="blocks must be >= 1"):
        parameter_layers(model, x, blocks=0)
