"""Methods own their options and presets: the registry checks names, the pipeline asks for presets by name
and never knows a localiser's option names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attribkit
from attribkit._core import registry as _registry
from attribkit.errors import OptionError, PluginError
from attribkit.hookspecs import hookimpl
from attribkit.localisation._presets import MAP_PRESETS, resolve_options


class Plugin:
    """A third-party plugin registering a localiser named ``graphcut`` that takes no GraphCut option."""

    def __init__(self, presets=None, options=None):
        self.presets, self.options, self.built = presets, options, []

    def factory(self, *, margin: int = 0):
        self.built.append({"margin": margin})
        return attribkit.create_localiser("centre")

    @hookimpl
    def attribkit_register(self, registry):
        registry.add_localiser("graphcut", self.factory, description="replaces the built-in",
                               presets=self.presets, options=self.options)


@pytest.fixture
def replaced(monkeypatch, fresh_registry):
    def install(plugin):
        with pytest.warns(attribkit.PluginConflictWarning):
            registry = attribkit.build_registry([("mine", plugin)])
        monkeypatch.setattr(_registry, "_registry", registry)
        return plugin

    return install


def test_misspelt_option_names_the_method_and_the_close_match():
    with pytest.raises(OptionError, match=r"unknown option 'blurr' for graphcut\. Did you mean 'blur'\? Known: .*blur"):
        attribkit.create_localiser("graphcut", blurr=0.03)
    with pytest.raises(OptionError, match="unknown option 'fracton' for threshold"):
        attribkit.create_localiser("threshold", fracton=0.5)
    with pytest.raises(OptionError, match="unknown option 'stepz' for class_model"):
        attribkit.create_visualiser("class_model", torch.nn.Linear(2, 2), stepz=3)
    # Both built-in bases: code catching TypeError (Python's own unexpected-keyword error) or ValueError
    # keeps working.
    with pytest.raises(TypeError):
        attribkit.create_localiser("graphcut", blurr=0.03)
    with pytest.raises(ValueError):
        attribkit.create_localiser("graphcut", blurr=0.03)


def test_no_close_match_means_no_suggestion():
    with pytest.raises(OptionError) as info:
        attribkit.create_localiser("centre", zzzzzz=1)
    assert "Did you mean" not in str(info.value)


def test_options_are_read_from_the_factory_signature():
    reg = attribkit.get_registry().get("localiser", "centre")
    assert reg.options == ("area",)
    assert attribkit.get_registry().get("attributor", "random").options == ("seed",)


def test_graphcut_owns_its_presets():
    reg = attribkit.get_registry().get("localiser", "graphcut")
    assert set(reg.presets) == {"paper", "default", "gradient"}
    assert reg.preset("paper")["foreground_quantile"] == 0.95
    # A copy: changing it changes nothing registered.
    reg.preset("paper")["foreground_quantile"] = 0.5
    assert reg.preset("paper")["foreground_quantile"] == 0.95
    with pytest.raises(OptionError, match="unknown preset 'fast' for graphcut"):
        reg.preset("fast")


def test_a_replacement_localiser_is_handed_none_of_graphcuts_options(replaced):
    plugin = replaced(Plugin())
    maps, loc = resolve_options("default", "graphcut", {})
    assert loc == {} and maps == MAP_PRESETS["default"]
    maps, loc = resolve_options("paper", "graphcut", {"margin": 3})
    assert loc == {"margin": 3}
    attribkit.create_localiser("graphcut", **loc)
    assert plugin.built == [{"margin": 3}]


def test_a_replacement_localiser_with_presets_gets_its_own(replaced):
    replaced(Plugin(presets={"default": {"margin": 7}, "paper": {"margin": 0}}))
    assert resolve_options("default", "graphcut", {})[1] == {"margin": 7}
    assert resolve_options("default", "graphcut", {"margin": 1})[1] == {"margin": 1}
    assert resolve_options("paper", "graphcut", {})[1] == {"margin": 0}


def test_a_localiser_missing_the_asked_preset_says_so(replaced):
    replaced(Plugin(presets={"default": {"margin": 7}}))
    with pytest.raises(OptionError, match="unknown preset 'paper' for graphcut.*Known: default"):
        resolve_options("paper", "graphcut", {})


def test_a_preset_naming_an_unknown_option_is_a_plugin_error():
    with pytest.raises(PluginError, match="preset 'default' of localiser 'graphcut' sets unknown options"):
        attribkit.build_registry([("mine", Plugin(presets={"default": {"blur": 0.1}}))])


def test_localise_with_a_misspelt_option_fails_before_any_map(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))
    model(torch.zeros(1, 3, 224, 224))
    called = []
    monkeypatch.setattr("attribkit.localisation._pipeline.recipe_saliency",
                        lambda *a, **k: called.append(1))
    with pytest.raises(OptionError, match="blurr"):
        attribkit.localise(model, np.zeros((40, 40, 3), np.uint8), blurr=0.1)
    assert called == []


def test_plugins_command_lists_options_and_presets(capsys):
    from attribkit.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "options: foreground_quantile, background_quantile" in out
    assert "presets: default, gradient, paper" in out


def test_localise_routes_method_options_to_the_method():
    """An option the attributor declares (and the localiser does not) reaches the attributor."""
    maps, loc = resolve_options("default", "graphcut", {"unsupported": "raise", "blur": 0.1},
                                attributor="deconvnet")
    assert maps == {**MAP_PRESETS["default"], "unsupported": "raise"} and loc["blur"] == 0.1
    # Unknown to every side: one error naming every side's options and the close names.
    with pytest.raises(OptionError, match=r"unknown option 'smoothgrd' for deconvnet \+ threshold\. "
                                          r"Did you mean 'smoothgrad'\?.*averaging: .*threshold: fraction, blur"):
        resolve_options("default", "threshold", {"smoothgrd": 1}, attributor="deconvnet")


def test_a_name_both_sides_take_must_be_given_to_one_side():
    with pytest.raises(OptionError, match="'seed' is taken by both attributor 'random' and localiser 'graphcut'"):
        resolve_options("default", "graphcut", {"seed": 3}, attributor="random")
    maps, loc = resolve_options("default", "graphcut", {}, attributor="random",
                                attributor_options={"seed": 3}, localiser_options={"seed": 4})
    assert maps["seed"] == 3 and loc["seed"] == 4


def test_a_localiser_may_register_presets_of_its_own_names(replaced):
    replaced(Plugin(presets={"fast": {"margin": 1}, "default": {"margin": 7}}))
    maps, loc = resolve_options("fast", "graphcut", {})
    assert loc == {"margin": 1} and maps == MAP_PRESETS["default"]  # the maps take the default half
    with pytest.raises(OptionError, match="unknown preset 'slow'; known: default, fast, gradient, paper"):
        resolve_options("slow", "graphcut", {})


def test_misspelt_averaging_option_is_suggested():
    with pytest.raises(OptionError, match=r"unknown option 'smoothgrd' for saliency\. Did you mean 'smoothgrad'\?"):
        attribkit.create_attributor("saliency", torch.nn.Linear(2, 2), smoothgrd=2)


def test_set_registry_makes_a_code_registered_plugin_usable(fresh_registry):
    plugin = Plugin(presets={"default": {"margin": 2}})
    with pytest.warns(attribkit.PluginConflictWarning):
        registry = attribkit.build_registry([("mine", plugin)])
    previous = attribkit.set_registry(registry)
    try:
        assert attribkit.get_registry() is registry
        assert resolve_options("default", "graphcut", {})[1] == {"margin": 2}
    finally:
        assert attribkit.set_registry(previous) is registry
    with pytest.raises(TypeError, match="attribkit.Registry"):
        attribkit.set_registry("registry")
