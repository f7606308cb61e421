"""Issue 23, item 2: map batches sized to the device (``map_batch="auto"``, halving on out-of-memory with
nothing recorded twice) and ``precision`` (bf16/fp16 autocast for the maps; rules and metrics float32)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import attribkit
from attribkit.errors import OptionError
from attribkit.localisation import crop_maps
from attribkit.study import run_study
from attribkit.study import _compute, _sizing
from attribkit.study._precision import autocast
from attribkit.study._sizing import BatchSize, first_size, in_slices

import _study_helpers as helpers

#: Records compared bit for bit: one torch thread for every test here (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")

#: bf16 against float32 on the tiny test network, per method: the largest relative L2 error of a map
#: (``||map - map_fp32|| / ||map_fp32||``; measured 0.10, 0.016, 0.087, 0.12) and, for every method, the largest
#: difference of one pixel relative to the map's float32 maximum (measured at most 0.32). bf16 keeps 8 bits of
#: mantissa: pixel-level gradient maps move by several percent, Grad-CAM's coarse maps by about 1%.
#: docs/studies.md gives EfficientNet-Lite0's figures and how often they move a box.
BF16_L2 = {"saliency": 0.15, "gradcam": 0.03, "deconvnet": 0.15, "guided_backprop": 0.15}
BF16_PIXEL = 0.5


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    helpers.write_photos(folder, 5)
    return folder


def _run(out: Path, data, **kw):  # type: ignore[no-untyped-def]
    options = {"methods": ["saliency", "gradcam"], "localisers": ["above_mean"], "steps": 2, "gallery": 1,
               "workers": 0, **kw}
    return run_study(helpers.tiny_classifier(), data, out=out, progress=False, **options)


def _out_of_memory_above(monkeypatch, rows: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Make the study's map batches of more than ``rows`` photos raise CUDA's out-of-memory error."""
    sizes: list[int] = []

    def limited(attributor, inputs, targets):  # type: ignore[no-untyped-def]
        sizes.append(inputs.shape[0])
        if inputs.shape[0] > rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        return crop_maps(attributor, inputs, targets)

    monkeypatch.setattr(_compute, "crop_maps", limited)
    return sizes


@pytest.mark.slow  # two small studies: ~7 s on a busy 2-core machine
def test_auto_halves_on_out_of_memory_and_records_nothing_twice(tmp_path, photos, study_registry, monkeypatch):
    monkeypatch.setattr(_sizing, "AUTO_CPU", 4)  # auto's first size here: 4 photos (a GPU's would be 256)
    sizes = _out_of_memory_above(monkeypatch, 2)
    with pytest.warns(attribkit.AttribkitWarning, match=r"does not fit in the memory of cpu \(CUDA out of memory.*"
                                                        r"batches of 2 photos"):
        result = _run(tmp_path / "auto", photos, map_batch="auto")
    # The batch of 4 failed once, was computed again as two of 2, and every later batch had 2.
    assert sizes[0] == 4 and set(sizes[1:]) == {2}
    lines = [json.loads(line) for path in (tmp_path / "auto" / "records").glob("*.jsonl")
             for line in path.read_text().splitlines()]
    keys = [(r["kind"], r["image"], r["method"], r["localiser"]) for r in lines]
    assert len(keys) == len(set(keys)) == 5 * 2 * 2
    # The records of a study that had batches of 2 from the start (the same shapes: the same bits).
    monkeypatch.setattr(_compute, "crop_maps", crop_maps)
    assert _run(tmp_path / "two", photos, map_batch=2).records == result.records


def test_a_fixed_map_batch_that_does_not_fit_is_one_line_naming_it(tmp_path, photos, study_registry, monkeypatch):
    _out_of_memory_above(monkeypatch, 2)
    with pytest.raises(OptionError, match=r"^map_batch=4 does not fit in the memory of cpu \(CUDA out of memory\. "
                                          r"Tried to allocate 20\.00 GiB \(injected\)\); give a smaller "
                                          r"map_batch") as caught:
        _run(tmp_path / "fixed", photos, map_batch=4)
    assert "\n" not in str(caught.value)


def test_auto_gives_up_when_one_photo_does_not_fit(monkeypatch):
    def never(rows: slice, padded: int) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    size = BatchSize(2, auto=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(OptionError, match="the maps of one photo do not fit in the memory of cpu"):
            in_slices(never, 3, size, torch.device("cpu"))
    assert size.size == 1


def test_in_slices_keeps_the_slices_done_and_retries_the_one_that_failed():
    calls: list[tuple[int, int, int]] = []

    def rows_of(rows: slice, padded: int) -> torch.Tensor:
        calls.append((rows.start, rows.stop, padded))
        if rows.stop - rows.start > 2 and rows.start >= 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return torch.arange(rows.start, rows.stop)

    size = BatchSize(4, auto=True)
    with pytest.warns(attribkit.AttribkitWarning, match="batches of 2 photos"):
        done = in_slices(rows_of, 9, size, torch.device("cpu"))
    assert torch.cat(done).tolist() == list(range(9))
    assert calls == [(0, 4, 4), (4, 8, 4), (4, 6, 2), (6, 8, 2), (8, 9, 2)]


def test_first_size_follows_the_device_and_the_data():
    assert first_size("auto", torch.device("cpu"), 100) == _sizing.AUTO_CPU == 8
    assert first_size("auto", torch.device("cuda", 0), 10_000) == _sizing.AUTO_START == 256
    assert first_size("auto", torch.device("cuda"), 3) == 3 and first_size(16, torch.device("cpu"), 5) == 5
    for bad in (0, -2, "big", 2.5, True):
        with pytest.raises(OptionError, match="map_batch must be >= 1 or 'auto'"):
            first_size(bad, torch.device("cpu"), 5)  # type: ignore[arg-type]


# -- precision ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["saliency", "gradcam", "deconvnet", "guided_backprop"])
def test_bf16_maps_stay_within_the_documented_tolerance_of_float32(photos, method):
    model = helpers.tiny_classifier()
    x = torch.cat([attribkit.load_image(p, model).tensor for p in sorted(photos.glob("*.png"))])
    targets = torch.tensor([[0, 3, 7]] * len(x))
    attributor = attribkit.create_attributor(method, model)
    exact = crop_maps(attributor, x, targets)
    with autocast(torch.device("cpu"), "bf16"):
        low = crop_maps(attributor, x, targets)
    assert low.dtype == torch.float32 and not torch.equal(low, exact)  # it did run in bf16
    l2 = ((low - exact).flatten(2).norm(dim=2) / exact.flatten(2).norm(dim=2)).max()
    pixel = ((low - exact).abs().flatten(2).amax(dim=2) / exact.flatten(2).amax(dim=2)).max()
    assert l2 < BF16_L2[method] and pixel < BF16_PIXEL, (float(l2), float(pixel))


def test_rules_compute_in_float32_under_autocast():
    from attribkit.rules import Rule, applied

    seen: list[torch.dtype] = []

    class Recording(Rule):
        name = "recording"

        def rectifier_backward(self, grad_out, output, upper):  # type: ignore[no-untyped-def]
            seen.append(grad_out.dtype)
            seen.append(output.dtype)
            return self.forward_switch(grad_out, output, upper)

    model = helpers.tiny_classifier()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    with applied(Recording(), model), autocast(torch.device("cpu"), "bf16"):
        model(x)[:, 1].sum().backward()
    assert seen and set(seen) == {torch.float32}
    assert x.grad is not None and x.grad.dtype == torch.float32


@pytest.mark.slow  # two small studies: ~5 s on a busy 2-core machine
def test_a_bf16_study_records_its_precision_and_is_not_resumed_in_float32(tmp_path, photos, study_registry):
    out = tmp_path / "bf16"
    low = _run(out, photos, map_batch=2, precision="bf16")
    assert json.loads((out / "study.json").read_text())["precision"] == "bf16"
    exact = _run(tmp_path / "fp32", photos, map_batch=2)
    assert "precision" not in json.loads((tmp_path / "fp32" / "study.json").read_text())
    # The same boxes on the tiny network (its maps move by less than a threshold), other map values.
    assert [r.get("box") for r in low.records] == [r.get("box") for r in exact.records]
    assert low.records != exact.records
    with pytest.raises(OptionError, match="computed with precision bf16, not fp32"):
        _run(out, photos, map_batch=2)
    with pytest.raises(OptionError, match="precision must be one of fp32, bf16, fp16; got 'fp64'"):
        _run(tmp_path / "bad", photos, precision="fp64")


@pytest.mark.parametrize(("args", "message"), [
    (["--map-batch", "big"], "--map-batch: expected a whole number or 'auto'; got 'big'"),
    (["--map-batch", "0"], "--map-batch must be >= 1; got 0"),
    (["--precision", "fp64"], "--precision: invalid choice: 'fp64'"),
])
def test_cli_refuses_bad_device_options_in_one_line(tmp_path, capsys, args, message):
    from attribkit.cli import main

    try:
        status = main(["study", "--methods", "saliency", "--data", "samples:coffee", "--out", str(tmp_path / "o"),
                       *args])
    except SystemExit as stop:  # argparse's own usage errors
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and not (tmp_path / "o").exists()


def test_cli_passes_auto_and_bf16_to_the_study(tmp_path, photos, capsys, monkeypatch, study_registry):
    from attribkit.cli import _study, main

    seen = {}
    monkeypatch.setattr(_study, "model_from_args", lambda args: helpers.tiny_classifier())

    def recording(*args, **kw):  # type: ignore[no-untyped-def]
        seen.update(kw)
        return None

    monkeypatch.setattr("attribkit.study.run_study", recording)
    assert main(["study", "--methods", "saliency", "--data", str(photos), "--out", str(tmp_path / "o"),
                 "--map-batch", "auto", "--precision", "bf16", "--loader-workers", "2"]) == 0
    assert (seen["map_batch"], seen["precision"], seen["loader_workers"]) == ("auto", "bf16", 2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_study_on_cuda_gives_the_cpu_boxes(tmp_path, photos, study_registry):
    cpu = _run(tmp_path / "cpu", photos, map_batch=2)
    gpu = run_study(helpers.tiny_classifier().cuda(), photos, methods=["saliency", "gradcam"],
                    localisers=["above_mean"], out=tmp_path / "gpu", progress=False, steps=2, gallery=1, workers=0, map_batch="auto",
                    loader_workers=1, precision="bf16")
    fp32 = run_study(helpers.tiny_classifier().cuda(), photos, methods=["saliency", "gradcam"],
                     localisers=["above_mean"], out=tmp_path / "gpu32", progress=False, steps=2, gallery=1, workers=0,
                     map_batch=2)
    key = lambda r: (r["kind"], r["image"], r["method"], r["localiser"])  # noqa: E731
    boxes = {key(r): r.get("box") for r in cpu.records}
    assert {key(r): r.get("box") for r in fp32.records} == boxes
    assert len(gpu.records) == len(cpu.records)


def test_the_cli_offers_the_librarys_precisions():
    import argparse

    from attribkit.cli import build_parser
    from attribkit.study._precision import PRECISIONS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for verb in ("study", "evaluate"):
        action = next(a for a in sub.choices[verb]._actions if a.dest == "precision")
        assert tuple(action.choices) == tuple(PRECISIONS)
