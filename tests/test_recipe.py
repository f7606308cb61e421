"""One recipe (preset, attributor, averaging, options, localiser) resolved once and taken everywhere; one
forward pass per photo for the scores and the attribution."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import attribkit
from attribkit import Recipe
from attribkit.attribution import AveragingOptions, MultiScale, TenCrop, attribute_scored, can_score
from attribkit.errors import OptionError, UnknownMethodError
from attribkit.localisation import _recipe
from attribkit.models import ModelInfo, Preprocessing, attach_info
from attribkit.study import Setting, run_study
from conftest import tiny_cnn


def small_model(num_classes: int = 10) -> torch.nn.Module:
    model = tiny_cnn(num_classes).float().eval()
    prep = Preprocessing(resize=36, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return attach_info(model, ModelInfo("tiny", prep, tuple(f"class {i}" for i in range(num_classes))))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 60, (45, 60, 3)).astype(np.uint8)
    rgb[10:35, 20:45] = (230, 200, 40)
    return rgb


@pytest.fixture
def resolutions(monkeypatch):
    """How many times a recipe is resolved against the registry."""
    calls = []
    real = _recipe._resolve

    def counted(recipe, registry):  # type: ignore[no-untyped-def]
        calls.append(recipe)
        return real(recipe, registry)

    monkeypatch.setattr(_recipe, "_resolve", counted)
    return calls


# -- one object, resolved once ---------------------------------------------------------------------------

def test_a_recipe_is_resolved_once_however_often_it_is_used(photo, resolutions):
    model = small_model()
    recipe = Recipe(localiser="threshold", options={"ten_crop": True, "fraction": 0.3})
    first = attribkit.localise(model, photo, recipe=recipe)
    again = attribkit.localise(model, photo, recipe=recipe, top_k=2)
    attribkit.saliency(model, photo, recipe=recipe)
    assert len(resolutions) == 1
    assert first[0].label == again[0].label
    resolved = recipe.resolve()
    assert resolved.attributor_for(model) is resolved.attributor_for(model)  # built once per model
    assert resolved.localiser_options["fraction"] == 0.3 and resolved.averaging.ten_crop


def test_a_recipe_pickles_without_its_resolution():
    recipe = Recipe(preset="paper")
    recipe.resolve()
    copy = pickle.loads(pickle.dumps(recipe))
    assert copy == recipe and "_resolved" not in vars(copy)


def test_a_recipes_options_are_read_only_after_it_is_built():
    """A recipe is resolved once and the answer kept: an option changed afterwards would be shown but not
    computed, so the mappings refuse changes (``dataclasses.replace`` makes a changed copy)."""
    import dataclasses

    given = {"smoothgrad": 2}
    recipe = Recipe(options=given, localiser_options={"fraction": 0.3})
    given["smoothgrad"] = 5  # the caller's dict is copied, not kept
    assert recipe.resolve().averaging.smoothgrad == 2
    for mapping in (recipe.options, recipe.attributor_options, recipe.localiser_options):
        with pytest.raises(TypeError):
            mapping["smoothgrad"] = 5  # type: ignore[index]
    assert dataclasses.replace(recipe, options={"smoothgrad": 5}).resolve().averaging.smoothgrad == 5
    copy = pickle.loads(pickle.dumps(recipe))
    assert copy == recipe
    with pytest.raises(TypeError):
        copy.options["smoothgrad"] = 5  # type: ignore[index]


def test_the_study_setting_is_the_recipe():
    assert Setting is Recipe
    setting = Setting("row", "saliency", "threshold", None, {"ten_crop": True})
    assert setting.resolve().map_label == "saliency[ten_crop=True]"
    assert Recipe().name == "gradcam+threshold (default)"


# -- every entry point takes it; keywords are sugar for one ------------------------------------------------

def test_saliency_keywords_equal_the_recipe(photo):
    model = small_model()
    by_keywords = attribkit.saliency(model, photo, method="deconvnet", top_k=2, ten_crop=True)
    recipe = Recipe(attributor="deconvnet", localiser=None, preset=None, options={"ten_crop": True})
    by_recipe = attribkit.saliency(model, photo, top_k=2, recipe=recipe)
    assert by_keywords.labels == by_recipe.labels
    np.testing.assert_array_equal(by_keywords.maps, by_recipe.maps)
    with pytest.raises(OptionError, match="not both"):
        attribkit.saliency(model, photo, recipe=recipe, ten_crop=True)


def test_localise_keywords_equal_the_recipe(photo):
    model = small_model()
    by_keywords = attribkit.localise(model, photo, preset="paper", attributor="saliency", blur=0.05, top_k=2)
    recipe = Recipe(attributor="saliency", preset="paper", options={"blur": 0.05})
    by_recipe = attribkit.localise(model, photo, recipe=recipe, top_k=2)
    assert [r.box for r in by_keywords] == [r.box for r in by_recipe]
    with pytest.raises(OptionError, match="not both"):
        attribkit.localise(model, photo, recipe=recipe, preset="paper")
    with pytest.raises(OptionError, match="no localiser"):
        attribkit.localise(model, photo, recipe=Recipe(localiser=None))


def test_run_study_takes_a_recipe(tmp_path, photo):
    from PIL import Image

    model = small_model()
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    recipe = Recipe("plain", "saliency", "threshold", None)
    result = run_study(model, [path], settings=recipe, out=tmp_path / "a", steps=0, gallery=0, workers=0,
                       progress=False, top_k=1)
    assert {r["method"] for r in result.records if r["kind"] == "map"} == {"saliency"}
    with pytest.raises(OptionError, match="names, not objects"):
        run_study(model, [path], settings=Recipe(attributor=attribkit.create_attributor("saliency", model)),
                  out=tmp_path / "b", steps=0, progress=False)


@pytest.mark.parametrize("argv, expected", [
    (["saliency", "p.jpg", "--out", "o", "--method", "deconvnet", "--ten-crop"],
     Recipe(attributor="deconvnet", localiser=None, preset=None, options={"ten_crop": True})),
    (["localise", "p.jpg", "--out", "o", "--preset", "paper", "--option", "blur=0.05"],
     Recipe(preset="paper", options={"blur": 0.05})),
    (["evaluate", "--data", "d", "--out", "o", "--localiser", "centre"],
     Recipe("gradcam+centre (default)", "gradcam", "centre", "default")),
])
def test_each_verb_builds_one_recipe(argv, expected, resolutions):
    from attribkit.cli import build_parser
    from attribkit.cli._usage import check_usage, recipe_of

    args = build_parser().parse_args(argv)
    check_usage(args)
    assert recipe_of(args) == expected and recipe_of(args) is args.recipe
    args.recipe.resolve()
    assert len(resolutions) == 1  # the usage check's resolution is the verb's


def test_the_cli_refuses_a_bad_recipe_before_any_model(capsys):
    from attribkit.cli import main

    assert main(["localise", "x.jpg", "--out", "/nonexistent/o", "--option", "blurr=1"]) == 2
    assert "Did you mean 'blur'" in capsys.readouterr().err
    assert main(["saliency", "x.jpg", "--out", "/nonexistent/o", "--option", "smoothgrad=-1"]) == 2
    assert "smoothgrad must be an int >= 0" in capsys.readouterr().err


# -- preset=None means the same everywhere ------------------------------------------------------------------

def test_no_preset_means_the_same_everywhere(photo):
    model = small_model()
    plain = Recipe(preset=None).resolve()
    assert (plain.setting.attributor, plain.setting.localiser) == ("saliency", "graphcut")
    assert plain.averaging == AveragingOptions() and plain.localiser_options == {}
    assert Setting("s", preset=None) == Recipe("s", preset=None)
    # A study's no-preset setting keeps the labels its records had: the plain map, GraphCut's own options.
    study = Setting("s", preset=None).resolve()
    assert study.map_label == "saliency" and study.localiser_label == "graphcut"
    # saliency without a recipe is the no-preset recipe's map.
    default = attribkit.saliency(model, photo)
    np.testing.assert_array_equal(default.maps, attribkit.saliency(model, photo, recipe=Recipe(preset=None)).maps)
    # localise(preset=None) is GraphCut on its own defaults over the plain gradient.
    by_keyword = attribkit.localise(model, photo, preset=None, localiser="threshold")
    own = attribkit.localise(model, photo, attributor=attribkit.create_attributor("saliency", model),
                             localiser=attribkit.create_localiser("threshold"), preset=None)
    assert [r.box for r in by_keyword] == [r.box for r in own]


# -- every check, with close names -------------------------------------------------------------------------

@pytest.mark.parametrize("recipe, error, message", [
    (Recipe(attributor="salency"), UnknownMethodError, "saliency"),
    (Recipe(localiser="threshhold"), UnknownMethodError, "threshold"),
    (Recipe(preset="papr"), OptionError, "Did you mean 'paper'"),
    (Recipe(options={"blurr": 0.1}), OptionError, "Did you mean 'blur'"),
    (Recipe(options={"smoothgrd": 4}), OptionError, "Did you mean 'smoothgrad'"),
    (Recipe(options={"fraction": "abc"}), OptionError, "fraction='abc' of localiser 'threshold': takes float"),
    (Recipe(options={"ten_crop": "yes"}), OptionError, "ten_crop takes true or false"),
    (Recipe(options={"noise": -1.0, "smoothgrad": 2}), OptionError, "noise must be >= 0"),
    (Recipe(options={"scales": (0.0,)}), OptionError, "scales must be one or more positive numbers"),
    (Recipe(options={"smoothgrad": 2, "vargrad": 2}), OptionError, "not both"),
    (Recipe(localiser=None, preset=None, options={"blur": 0.1}), OptionError, "unknown option 'blur'"),
    (Recipe(localiser=None, localiser_options={"blur": 0.1}), OptionError, "without a localiser"),
])
def test_every_check_is_made_when_resolving(recipe, error, message):
    with pytest.raises(error, match=message):
        recipe.resolve()


def test_objects_take_no_options():
    model = small_model()
    with pytest.raises(OptionError, match="need a method name"):
        Recipe(attributor=attribkit.create_attributor("saliency", model), options={"layer": "x"}).resolve()
    with pytest.raises(OptionError, match="need a localiser name"):
        Recipe(localiser=attribkit.create_localiser("centre"), options={"area": 0.5}).resolve()
    with pytest.raises(OptionError, match="attributor must be"):
        Recipe(attributor=3)  # type: ignore[arg-type]


# -- one forward pass ----------------------------------------------------------------------------------------

def forwards(model: torch.nn.Module) -> list[tuple[int, ...]]:
    """The input shape of every forward pass of ``model``, recorded by a forward hook."""
    shapes: list[tuple[int, ...]] = []
    model.register_forward_hook(lambda _m, args, _out: shapes.append(tuple(args[0].shape)))
    return shapes


@pytest.mark.parametrize("method", ["saliency", "deconvnet", "guided_backprop", "gradcam"])
@pytest.mark.parametrize("top_k", [None, 3])
def test_saliency_runs_the_model_forward_once(photo, method, top_k):
    model = small_model()
    shapes = forwards(model)
    maps = attribkit.saliency(model, photo, method=method, top_k=top_k)
    assert shapes == [(1, 3, 32, 32)]
    # The labels and their probabilities are those of a separate forward pass.
    with torch.no_grad():
        expected = model(attribkit.load_image(photo, model).tensor).softmax(-1)[0]
    k = top_k or 1
    assert maps.labels == expected.topk(k).indices.tolist()
    np.testing.assert_allclose(maps.scores, expected[maps.labels].numpy(), rtol=1e-5)


def test_localise_runs_the_model_forward_once(photo):
    model = small_model()
    shapes = forwards(model)
    attribkit.localise(model, photo, top_k=2)  # the default recipe: Grad-CAM + threshold
    assert shapes == [(1, 3, 32, 32)]


def test_averaging_wrappers_pay_no_second_pass_on_the_photo(photo):
    model = small_model()
    shapes = forwards(model)
    attribkit.saliency(model, photo, scales=(1.0, 0.5), top_k=2)  # scale 1 is the photo itself
    assert shapes == [(1, 3, 32, 32), (1, 3, 16, 16)]
    shapes.clear()
    attribkit.saliency(model, photo, ten_crop=True, top_k=2)  # the crops are not the photo: one for it
    assert shapes == [(1, 3, 32, 32), (10, 3, 28, 28)]
    shapes.clear()
    attribkit.saliency(model, photo, method="gradcam", ten_crop=True, scales=(1.0, 2.0))
    assert shapes.count((1, 3, 32, 32)) == 1


def test_scored_wrappers_answer_as_attribute():
    model = small_model()
    x = torch.randn(2, 3, 32, 32)
    for attributor in (attribkit.create_attributor("saliency", model),
                       MultiScale(attribkit.create_attributor("gradcam", model), scales=(0.5, 1.0)),
                       TenCrop(attribkit.create_attributor("deconvnet", model))):
        assert can_score(attributor)
        scored = attribute_scored(attributor, x, top_k=2)
        torch.testing.assert_close(scored.attributions, attributor.attribute(x, top_k=2))
        torch.testing.assert_close(scored.scores, model(x).detach())
        assert scored.targets.index.tolist() == model(x).topk(2).indices.tolist()


class ThirdParty:
    """An attributor without the capability: ``|input|`` for every class asked."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def attribute(self, inputs, target=None, *, top_k=None, additional_forward_args=None):  # type: ignore[no-untyped-def]
        k = torch.as_tensor(target).shape[-1]
        return inputs.abs().unsqueeze(1).expand(-1, k, -1, -1, -1).clone()


def test_a_third_party_attributor_without_the_capability_still_works(photo):
    model = small_model()
    shapes = forwards(model)
    attributor = ThirdParty(model)
    assert not can_score(attributor)
    maps = attribkit.saliency(model, photo, method=attributor, top_k=3)
    assert shapes == [(1, 3, 32, 32)]  # the one no_grad forward for the scores (it runs none itself)
    assert len(maps.labels) == 3 and maps.maps.shape == (3, 32, 32)
    (box,) = attribkit.localise(model, photo, attributor=attributor, localiser="centre")
    assert box.label == maps.labels[0]


def test_a_subclass_overriding_attribute_loses_the_capability():
    model = small_model()

    class Doubled(type(attribkit.create_attributor("saliency", model))):  # type: ignore[misc]
        def attribute(self, inputs, target=None, **kw):  # type: ignore[no-untyped-def]
            return 2 * super().attribute(inputs, target, **kw)

    assert not can_score(Doubled(model))


def test_averaging_options_are_defined_once():
    from attribkit.attribution import AVERAGING_OPTIONS
    from attribkit.localisation._presets import MAP_OPTIONS
    from attribkit.study._settings import MAP_DEFAULTS

    assert MAP_OPTIONS == AVERAGING_OPTIONS == tuple(AveragingOptions().as_dict())
    assert MAP_DEFAULTS == AveragingOptions().as_dict()
    assert AveragingOptions(scales=2).scales == (2.0,)
    assert AveragingOptions(smoothgrad=8, noise=0.15).changed() == {"smoothgrad": 8}
    assert AveragingOptions(noise=0.3).changed() == {}  # noise alone changes nothing


def test_options_given_as_one_keyword_point_at_keywords_and_recipes():
    """``localise(model, photo, options={...})`` mixes up the keyword sugar and the Recipe's field."""
    with pytest.raises(OptionError, match=r"unknown option 'options'.*as keywords.*recipe=attribkit.Recipe"):
        Recipe(options={"options": {"layer": "x"}}).resolve()
