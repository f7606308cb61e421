"""The plugin registry: a pluggy manager factory, entry-point loading and the list_*/create_* verbs.

No plugin manager exists at import time. The first call of a verb builds one (see :func:`get_registry`);
tests build their own with :func:`build_registry`.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import pluggy

from attribkit import hookspecs

Kind = Literal["attributor", "visualiser", "localiser"]
KINDS: tuple[Kind, ...] = ("attributor", "visualiser", "localiser")

#: Comma-separated plugin names (entry-point names) that are not loaded.
DISABLE_ENV = "ATTRIBKIT_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "attribkit"


class PluginError(RuntimeError):
    """A plugin failed to import or raised while registering."""


class PluginConflictWarning(UserWarning):
    """Two plugins registered the same kind and name; the first registration wins."""


class UnknownMethodError(LookupError):
    """No plugin registered the requested name."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"unknown {kind} {name!r}.{hint} Registered {kind}s: {', '.join(known) or '(none)'}."
        )
        self.kind, self.name, self.close_matches = kind, name, close

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Registration:
    """One registered method: what kind, under what name, by which plugin, built by which factory."""

    kind: Kind
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin and what it registered (what ``attribkit plugins`` prints)."""

    name: str
    distribution: str | None
    registrations: tuple[Registration, ...]


class Registrar:
    """The object handed to ``attribkit_register``; plugins call its ``add_*`` methods."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def add_attributor(
        self, name: str, factory: Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register ``factory(model, **options) -> Attributor`` under ``name``."""
        self._registry._add("attributor", name, factory, self._plugin, description)

    def add_visualiser(
        self, name: str, factory: Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register ``factory(model, **options) -> Visualiser`` under ``name``."""
        self._registry._add("visualiser", name, factory, self._plugin, description)

    def add_localiser(
        self, name: str, factory: Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register ``factory(**options) -> Localiser`` under ``name``."""
        self._registry._add("localiser", name, factory, self._plugin, description)


@dataclass
class Registry:
    """Every registered method, by kind and name, with the plugin manager that produced them."""

    plugin_manager: pluggy.PluginManager
    distributions: dict[str, str | None] = field(default_factory=dict)
    _entries: dict[Kind, dict[str, Registration]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )

    def _add(
        self, kind: Kind, name: str, factory: Callable[..., Any], plugin: str, description: str
    ) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {kind} with an invalid name {name!r}")
        if not callable(factory):
            raise PluginError(f"plugin {plugin!r} registered {kind} {name!r} with a non-callable factory")
        table = self._entries[kind]
        if name in table:
            warnings.warn(
                f"{kind} {name!r} is registered by both {table[name].plugin!r} and {plugin!r}; "
                f"using {table[name].plugin!r} (the plugin called first wins, see attribkit_register)",
                PluginConflictWarning,
                stacklevel=4,
            )
            return
        table[name] = Registration(kind, name, factory, plugin, description)

    def names(self, kind: Kind, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries[kind] if fnmatch.fnmatchcase(n, pattern))

    def get(self, kind: Kind, name: str) -> Registration:
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownMethodError(kind, name, self.names(kind)) from None

    def plugins(self) -> list[PluginInfo]:
        by_plugin: dict[str, list[Registration]] = {}
        for table in self._entries.values():
            for reg in table.values():
                by_plugin.setdefault(reg.plugin, []).append(reg)
        names = [self.plugin_manager.get_name(p) for p in self.plugin_manager.get_plugins()]
        return [
            PluginInfo(n, self.distributions.get(n), tuple(by_plugin.get(n, ())))
            for n in sorted(n for n in names if n is not None)
        ]


def _disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _entry_points() -> list[tuple[metadata.EntryPoint, str | None]]:
    """Entry points of the group, built-ins first so that third-party plugins are called before them."""
    found: dict[str, tuple[metadata.EntryPoint, str | None]] = {}
    seen: set[str] = set()
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"]
        # Only the first copy of a distribution on sys.path is the one imported; a shadowed copy (e.g. an
        # editable install of another checkout in a base environment) must not add its entry points.
        key = re.sub(r"[-_.]+", "-", dist_name or "").lower()
        if key in seen:
            continue
        seen.add(key)
        for ep in dist.entry_points:
            if ep.group == hookspecs.PROJECT_NAME and ep.name not in found:
                found[ep.name] = (ep, dist_name)
    return sorted(found.values(), key=lambda x: (x[1] != BUILTIN_DISTRIBUTION, x[0].name))


def build_registry(
    plugins: Iterable[tuple[str, object]] = (),
    *,
    entry_points: bool = True,
    disabled: Iterable[str] | None = None,
) -> Registry:
    """Build a fresh plugin manager and registry.

    Parameters
    ----------
    plugins
        Extra ``(name, plugin)`` pairs registered after the entry points (so they are called first and
        win a name conflict against them).
    entry_points
        Load the ``attribkit`` entry-point group (built-ins and installed third-party plugins).
    disabled
        Plugin names not to load; defaults to the comma-separated ``ATTRIBKIT_DISABLE_PLUGINS``.
    """
    blocked = _disabled_from_env() if disabled is None else set(disabled)
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    registry = Registry(pm)
    for name in blocked:
        pm.set_blocked(name)

    if entry_points:
        for ep, dist in _entry_points():
            if pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} (entry point {ep.value!r} of distribution {dist!r}) "
                    f"failed to import: {type(exc).__name__}: {exc}. "
                    f"Set {DISABLE_ENV}={ep.name} to skip it."
                ) from exc
            pm.register(plugin, name=ep.name)
            registry.distributions[ep.name] = dist
    for name, plugin in plugins:
        if isinstance(plugin, str):
            plugin = importlib.import_module(plugin)
        if pm.register(plugin, name=name) is not None:
            registry.distributions[name] = None
    pm.check_pending()

    # Call the implementations one by one, in pluggy's order, so an error names its plugin and each
    # registration is credited to the plugin that made it.
    for impl in reversed(pm.hook.attribkit_register.get_hookimpls()):
        try:
            kwargs = {"registry": Registrar(registry, impl.plugin_name)}
            impl.function(*(kwargs[arg] for arg in impl.argnames))
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name!r} raised while registering: {type(exc).__name__}: {exc}. "
                f"Set {DISABLE_ENV}={impl.plugin_name} to skip it."
            ) from exc
    return registry


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use from the installed entry points."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = build_registry()
        return _registry


def reset_registry() -> None:
    """Forget the process-wide registry; the next verb rebuilds it (after installing a plugin, in tests)."""
    global _registry
    with _lock:
        _registry = None


def list_attributors(pattern: str = "*") -> list[str]:
    """Sorted names of the registered attributors matching a shell-style ``pattern``.

    Example
    -------
    >>> "saliency" in list_attributors()
    True
    """
    return get_registry().names("attributor", pattern)


def list_visualisers(pattern: str = "*") -> list[str]:
    """Sorted names of the registered visualisers matching a shell-style ``pattern``."""
    return get_registry().names("visualiser", pattern)


def list_localisers(pattern: str = "*") -> list[str]:
    """Sorted names of the registered localisers matching a shell-style ``pattern``."""
    return get_registry().names("localiser", pattern)


def create_attributor(name: str, model: Any, **options: Any) -> Any:
    """Build the attributor registered as ``name`` for ``model``.

    Raises :class:`UnknownMethodError` (naming close matches) for an unknown name.

    Example
    -------
    >>> sal = create_attributor("saliency", model)          # doctest: +SKIP
    >>> grads = sal.attribute(x, target=285)                 # doctest: +SKIP
    """
    return get_registry().get("attributor", name).factory(model, **options)


def create_visualiser(name: str, model: Any, **options: Any) -> Any:
    """Build the visualiser registered as ``name`` for ``model``."""
    return get_registry().get("visualiser", name).factory(model, **options)


def create_localiser(name: str, **options: Any) -> Any:
    """Build the localiser registered as ``name``."""
    return get_registry().get("localiser", name).factory(**options)
