"""The plugin registry: discovery, patterns, unknown names, conflicts, disabling, broken plugins."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

import attribkit
from attribkit import hookspecs
from attribkit._core import registry as _registry
from attribkit._core.registry import PluginConflictWarning, PluginError, UnknownMethodError, build_registry


def make_plugin(name: str, *, attributors=(), localisers=(), visualisers=(), **hook_options):
    """A plugin module registering trivial factories under the given names."""
    module = types.ModuleType(name)

    @attribkit.hookimpl(**hook_options)
    def attribkit_register(registry):
        for n in attributors:
            registry.add_attributor(n, lambda model, _n=n, **kw: (name, _n), description=f"from {name}")
        for n in visualisers:
            registry.add_visualiser(n, lambda model, _n=n, **kw: (name, _n))
        for n in localisers:
            registry.add_localiser(n, lambda _n=n, **kw: (name, _n))

    module.attribkit_register = attribkit_register
    return module


def test_builtins_are_discovered_through_entry_points():
    registry = build_registry()
    assert "saliency" in registry.names("attributor")
    assert registry.get("attributor", "saliency").plugin == "saliency"
    assert registry.distributions["saliency"] == "attribkit"
    eps = {ep.name for ep in metadata.entry_points(group="attribkit")}
    assert "saliency" in eps


def test_core_never_imports_a_method_by_name():
    """Only pyproject's entry points name the built-in plugin modules."""
    core = Path(attribkit.__file__).parent
    offenders = [
        p for p in core.rglob("*.py")
        if "plugins" not in p.parts and "attribkit.plugins" in p.read_text()
    ]
    assert offenders == []


def test_no_plugin_manager_at_import_time():
    code = "import attribkit, attribkit._core.registry as r; print(r._registry is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_list_verbs_are_sorted_and_take_shell_patterns(fresh_registry, monkeypatch):
    registry = build_registry(
        [("p", make_plugin("p", attributors=["zeta", "alpha", "alpha_two"], localisers=["box"],
                           visualisers=["vis"]))]
    )
    monkeypatch.setattr(_registry, "_registry", registry)
    names = attribkit.list_attributors()
    assert names == sorted(names) and {"alpha", "alpha_two", "zeta", "saliency"} <= set(names)
    assert attribkit.list_attributors("alpha*") == ["alpha", "alpha_two"]
    assert attribkit.list_attributors("nothing*") == []
    assert attribkit.list_localisers() == ["box"] or "box" in attribkit.list_localisers()
    assert "vis" in attribkit.list_visualisers("v?s")
    assert attribkit.create_localiser("box") == ("p", "box")
    assert attribkit.create_visualiser("vis", model=None) == ("p", "vis")


def test_unknown_name_names_it_and_suggests_close_matches():
    with pytest.raises(UnknownMethodError) as info:
        build_registry().get("attributor", "salency")
    message = str(info.value)
    assert "'salency'" in message and "Did you mean 'saliency'" in message
    assert info.value.close_matches == ["saliency"]
    with pytest.raises(UnknownMethodError, match="unknown localiser 'nope'"):
        build_registry().get("localiser", "nope")


def test_conflict_warns_and_later_registered_plugin_wins():
    """pluggy calls the last-registered plugin first; its registration wins and the other is named."""
    first = make_plugin("first", attributors=["shared"])
    second = make_plugin("second", attributors=["shared"])
    with pytest.warns(PluginConflictWarning, match="'shared' is registered by both 'second' and 'first'"):
        registry = build_registry([("first", first), ("second", second)], entry_points=False)
    assert registry.get("attributor", "shared").plugin == "second"


def test_third_party_overrides_builtin_and_trylast_yields():
    override = make_plugin("mine", attributors=["saliency"])
    with pytest.warns(PluginConflictWarning):
        registry = build_registry([("mine", override)])
    assert registry.get("attributor", "saliency").plugin == "mine"

    polite = make_plugin("polite", attributors=["saliency"], trylast=True)
    with pytest.warns(PluginConflictWarning):
        registry = build_registry([("polite", polite)])
    assert registry.get("attributor", "saliency").plugin == "saliency"


def test_tryfirst_wins_among_third_parties():
    eager = make_plugin("eager", attributors=["x"], tryfirst=True)
    late = make_plugin("late", attributors=["x"])
    with pytest.warns(PluginConflictWarning):
        registry = build_registry([("eager", eager), ("late", late)], entry_points=False)
    assert registry.get("attributor", "x").plugin == "eager"


def test_disable_by_environment_variable(monkeypatch):
    monkeypatch.setenv("ATTRIBKIT_DISABLE_PLUGINS", " saliency , other")
    registry = build_registry()
    assert "saliency" not in registry.names("attributor")
    assert registry.plugin_manager.is_blocked("saliency")
    monkeypatch.delenv("ATTRIBKIT_DISABLE_PLUGINS")
    assert "saliency" in build_registry().names("attributor")


def test_disable_argument_blocks_code_plugins_too():
    registry = build_registry([("p", make_plugin("p", attributors=["a"]))], disabled=["p"])
    assert "a" not in registry.names("attributor")


def test_plugin_raising_during_registration_is_named():
    broken = types.ModuleType("broken")

    @attribkit.hookimpl
    def attribkit_register(registry):
        raise ZeroDivisionError("oops")

    broken.attribkit_register = attribkit_register
    with pytest.raises(PluginError, match=r"plugin 'broken' raised while registering: ZeroDivisionError"):
        build_registry([("broken", broken)], entry_points=False)


def test_plugin_failing_to_import_is_named(monkeypatch):
    bad = metadata.EntryPoint(name="ghost", value="attribkit_no_such_module:plugin", group="attribkit")
    monkeypatch.setattr(_registry, "_entry_points", lambda: [(bad, "ghost-dist")])
    # Issue 15: a broken plugin warns and is set aside; asking for it (or ATTRIBKIT_STRICT_PLUGINS) raises.
    with pytest.warns(attribkit.PluginLoadWarning, match=r"plugin 'ghost' .*ghost-dist.* failed to import"):
        registry = build_registry()
        assert registry.names("attributor") == []
    with pytest.raises(PluginError, match=r"plugin 'ghost' .*ghost-dist.* failed to import"):
        build_registry(strict=True)
    # A disabled broken plugin is never imported.
    registry = build_registry(disabled=["ghost"])
    assert registry.names("attributor") == []


def test_bad_registrations_are_rejected():
    for name, factory in [("", lambda m: None), ("ok", "not callable")]:
        module = types.ModuleType("weird")

        @attribkit.hookimpl
        def attribkit_register(registry, _n=name, _f=factory):
            registry.add_attributor(_n, _f)

        module.attribkit_register = attribkit_register
        with pytest.raises(PluginError, match="weird"):
            build_registry([("weird", module)], entry_points=False)


def test_misspelled_hook_argument_is_rejected_by_pluggy():
    module = types.ModuleType("typo")

    @attribkit.hookimpl
    def attribkit_register(registy):
        pass

    module.attribkit_register = attribkit_register
    with pytest.raises(Exception, match="registy"):
        build_registry([("typo", module)], entry_points=False)


def test_plugins_listing_credits_each_plugin():
    registry = build_registry([("p", make_plugin("p", attributors=["a"], localisers=["l"]))])
    infos = {p.name: p for p in registry.plugins()}
    assert {r.name for r in infos["p"].registrations} == {"a", "l"}
    assert infos["saliency"].distribution == "attribkit"


def test_every_hook_is_documented():
    """Like datasette: every hookspec has a docstring and a section in docs/plugins.md."""
    specs = [f for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("attribkit_")]
    assert specs
    docs = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
    text = docs.read_text() if docs.is_file() else ""
    for spec in specs:
        assert spec.__doc__ and len(spec.__doc__) > 80, spec.__name__
        assert spec.__name__ in text, f"{spec.__name__} is not documented in docs/plugins.md"


def test_registry_is_lazy_and_cached(fresh_registry):
    assert _registry._registry is None
    first = attribkit.get_registry()
    assert attribkit.get_registry() is first
    attribkit.reset_registry()
    assert attribkit.get_registry() is not first
