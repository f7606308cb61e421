"""Entry points load when a name needs them, and a broken third-party plugin stops nothing but itself.

The entry points here are fakes (``importlib.metadata.EntryPoint`` objects naming modules put in
``sys.modules``), so each test knows exactly which plugin was imported and when.
"""

from __future__ import annotations

import subprocess
import sys
import types
import warnings
from importlib import metadata

import pytest

import attribkit
from attribkit._core import registry as _registry
from attribkit._core.registry import build_registry
from attribkit.errors import PluginConflictWarning, PluginError, PluginLoadWarning, UnknownMethodError


def _plugin(module_name: str, *attributors: str, raises: Exception | None = None,
            **hook_options: bool) -> types.ModuleType:
    """A plugin module registering ``attributors``; it records each import in ``IMPORTED``."""
    module = types.ModuleType(module_name)

    @attribkit.hookimpl(**hook_options)
    def attribkit_register(registry):
        for n in attributors:
            registry.add_attributor(n, lambda model, _n=n: (module_name, _n))
        if raises is not None:
            raise raises

    module.attribkit_register = attribkit_register
    return module


class _Modules:
    """Fake entry points whose plugins are attributes of one module, so every load is recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.imported: list[str] = []
        self._plugins: dict[str, types.ModuleType] = {}
        self._eps: list[tuple[metadata.EntryPoint, str]] = []
        holder = types.ModuleType(HOLDER)

        def load(name: str) -> types.ModuleType:  # the module's __getattr__ (PEP 562)
            if name not in self._plugins:
                raise AttributeError(name)
            self.imported.append(name)
            return self._plugins[name]

        holder.__getattr__ = load  # type: ignore[method-assign]
        monkeypatch.setitem(sys.modules, HOLDER, holder)
        monkeypatch.setattr(_registry, "_entry_points", lambda: list(self._eps))
        monkeypatch.delenv("ATTRIBKIT_DISABLE_PLUGINS", raising=False)
        monkeypatch.delenv("ATTRIBKIT_STRICT_PLUGINS", raising=False)

    def add(self, name: str, dist: str, module: types.ModuleType | None) -> None:
        """An entry point ``name`` of distribution ``dist``; ``module=None`` fails to import."""
        if module is None:
            value = f"attribkit_fake_no_such_module_{name}"
        else:
            self._plugins[name] = module
            value = f"{HOLDER}:{name}"
        self._eps.append((metadata.EntryPoint(name=name, value=value, group="attribkit"), dist))


HOLDER = "attribkit_fake_plugins"


@pytest.fixture
def fakes(monkeypatch):
    return _Modules(monkeypatch)


def _builtins_and_thirdparty(fakes: _Modules) -> None:
    fakes.add("alpha", "attribkit", _plugin("alpha", "alpha", "alpha_two"))
    fakes.add("beta", "attribkit", _plugin("beta", "beta"))
    fakes.add("ns", "attribkit-ns", _plugin("ns", "ns:one", "ns:two"))


def test_a_namespaced_name_loads_only_its_namespace(fakes):
    _builtins_and_thirdparty(fakes)
    registry = build_registry()
    assert fakes.imported == []  # building imports nothing
    assert registry.get("attributor", "ns:one").plugin == "ns"
    assert fakes.imported == ["ns"]


def test_a_bare_name_loads_its_entry_point_and_the_third_party_plugins_only(fakes):
    _builtins_and_thirdparty(fakes)
    registry = build_registry()
    assert registry.get("attributor", "alpha").plugin == "alpha"
    assert sorted(fakes.imported) == ["alpha", "ns"]  # ns might override "alpha"; beta cannot be needed


def test_a_name_no_entry_point_is_named_after_loads_everything_and_listing_too(fakes):
    _builtins_and_thirdparty(fakes)
    registry = build_registry()
    assert registry.get("attributor", "beta").plugin == "beta"
    assert registry.get("attributor", "alpha_two").plugin == "alpha"
    assert sorted(fakes.imported) == ["alpha", "beta", "ns"]
    fakes.imported.clear()
    assert registry.names("attributor") == ["alpha", "alpha_two", "beta", "ns:one", "ns:two"]
    assert fakes.imported == []  # each plugin is imported once


def test_a_third_party_override_wins_whichever_loads_first(fakes):
    fakes.add("alpha", "attribkit", _plugin("alpha", "alpha"))
    fakes.add("mine", "my-dist", _plugin("mine", "alpha"))
    registry = build_registry()
    registry._load("alpha")  # the built-in first: the override loaded later must still win
    with pytest.warns(PluginConflictWarning, match="'alpha' is registered by both 'mine' and 'alpha'"):
        assert registry.get("attributor", "alpha").plugin == "mine"


def test_a_trylast_third_party_yields_to_the_builtin_loaded_after_it(fakes):
    fakes.add("alpha", "attribkit", _plugin("alpha", "alpha"))
    fakes.add("polite", "my-dist", _plugin("polite", "alpha", trylast=True))
    registry = build_registry()
    registry._load("polite")
    with pytest.warns(PluginConflictWarning):
        assert registry.get("attributor", "alpha").plugin == "alpha"


@pytest.mark.parametrize("broken, why", [
    (None, r"plugin 'ghost' \(entry point 'attribkit_fake_no_such_module_ghost' of distribution "
           r"'ghost-dist'\) failed to import: ModuleNotFoundError"),
    (_plugin("ghost", "ghost:one", raises=ZeroDivisionError("oops")),
     r"plugin 'ghost' raised while registering: ZeroDivisionError: oops"),
])
def test_a_broken_plugin_warns_once_and_everything_else_works(fakes, broken, why):
    _builtins_and_thirdparty(fakes)
    fakes.add("ghost", "ghost-dist", broken)
    registry = build_registry()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.get("attributor", "alpha").plugin == "alpha"
        assert registry.get("attributor", "ns:one").plugin == "ns"
        assert "beta" in registry.names("attributor")
        assert registry.names("attributor") == ["alpha", "alpha_two", "beta", "ns:one", "ns:two"]
    loads = [w for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert len(loads) == 1, [str(w.message) for w in caught]
    message = str(loads[0].message)
    assert "ghost" in message and "ATTRIBKIT_DISABLE_PLUGINS=ghost" in message
    assert "ATTRIBKIT_STRICT_PLUGINS=1" in message
    import re

    assert re.search(why, message)
    # Asking for one of its methods says why it is unavailable.
    with pytest.raises(PluginError, match=rf"attributor 'ghost:one' is unavailable: {why}"):
        registry.get("attributor", "ghost:one")
    with pytest.raises(PluginError, match="ATTRIBKIT_DISABLE_PLUGINS=ghost"):
        registry.get("attributor", "ghost")
    # A name nobody registered is still just unknown.
    with pytest.raises(UnknownMethodError):
        registry.get("attributor", "nothing")
    info = {p.name: p for p in registry.plugins()}
    assert info["ghost"].error is not None and info["ghost"].registrations == ()
    assert info["alpha"].error is None


def test_a_plugin_calling_sys_exit_on_import_is_set_aside_and_the_command_goes_on(fakes, monkeypatch, capsys,
                                                                                  fresh_registry):
    from attribkit.cli import main

    exiting = types.ModuleType("attribkit_fake_exiting")

    def load(name: str) -> None:  # importing the plugin object runs the plugin's module: it exits
        raise SystemExit(3)

    exiting.__getattr__ = load  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "attribkit_fake_exiting", exiting)
    fakes.add("alpha", "attribkit", _plugin("alpha", "alpha"))
    fakes._eps.append((metadata.EntryPoint(name="quitter", value="attribkit_fake_exiting:plugin",
                                           group="attribkit"), "quitter-dist"))
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert "alpha" in out and "quitter" in out
    assert err.startswith("attribkit: PluginLoadWarning: plugin 'quitter'") and "SystemExit: 3" in err
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C during an import still stops everything
        exiting.__getattr__ = lambda name: (_ for _ in ()).throw(KeyboardInterrupt())  # type: ignore[method-assign]
        fakes._eps[-1:] = [(metadata.EntryPoint(name="quitter", value="attribkit_fake_exiting:plugin",
                                                group="attribkit"), "quitter-dist")]
        build_registry().load_all()


def test_a_plugin_raising_half_way_registers_nothing(fakes):
    fakes.add("half", "half-dist", _plugin("half", "half:done", raises=RuntimeError("late")))
    registry = build_registry()
    with pytest.warns(PluginLoadWarning):
        assert registry.names("attributor") == []
    assert "half" not in {registry.plugin_manager.get_name(p) for p in registry.plugin_manager.get_plugins()}


def test_strict_mode_fails_fast_at_build(fakes, monkeypatch):
    _builtins_and_thirdparty(fakes)
    fakes.add("ghost", "ghost-dist", None)
    monkeypatch.setenv("ATTRIBKIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'ghost' .* failed to import.*ATTRIBKIT_DISABLE_PLUGINS=ghost"):
        build_registry()
    monkeypatch.setenv("ATTRIBKIT_STRICT_PLUGINS", "0")
    with pytest.warns(PluginLoadWarning):
        build_registry().load_all()


def test_a_disabled_broken_plugin_is_never_imported_nor_reported(fakes, monkeypatch):
    fakes.add("ghost", "ghost-dist", None)
    fakes.add("alpha", "attribkit", _plugin("alpha", "alpha"))
    monkeypatch.setenv("ATTRIBKIT_DISABLE_PLUGINS", "ghost")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry = build_registry()
        assert registry.names("attributor") == ["alpha"]
    with pytest.raises(UnknownMethodError):
        registry.get("attributor", "ghost:x")


def test_a_broken_plugin_does_not_stop_the_command_line(fakes, tmp_path, capsys, fresh_registry):
    from attribkit.cli import main

    fakes.add("ghost", "ghost-dist", None)
    fakes.add("alpha", "attribkit", _plugin("alpha", "alpha"))
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert "alpha" in out and "ghost" in out and "failed to import" in out
    assert err.count("\n") == 1 and err.startswith("attribkit: PluginLoadWarning: plugin 'ghost'")
    assert "ATTRIBKIT_DISABLE_PLUGINS=ghost" in err


def test_plain_saliency_imports_no_other_builtin_plugin():
    """The real entry points: looking up ``saliency`` imports neither GraphCut (scikit-learn) nor the others."""
    code = (
        "import sys, attribkit\n"
        "attribkit.get_registry().get('attributor', 'saliency')\n"
        "print(sorted(m for m in ('attribkit.methods.graphcut', 'attribkit.methods.deconvnet', "
        "'attribkit.methods.class_model', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
