"""The plugin registry: a pluggy manager factory, entry-point loading and the list_*/create_* verbs.

No plugin manager exists at import time. The first call of a verb builds one (see :func:`get_registry`);
tests build their own with :func:`build_registry`.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import importlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import pluggy

from attribkit import hookspecs
from attribkit._core.interfaces import Attributor, Localiser, Visualiser
from attribkit.errors import OptionError, PluginConflictWarning, PluginError, UnknownMethodError

Kind = Literal["attributor", "visualiser", "localiser"]
KINDS: tuple[Kind, ...] = ("attributor", "visualiser", "localiser")

#: Comma-separated plugin names (entry-point names) that are not loaded.
DISABLE_ENV = "ATTRIBKIT_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "attribkit"


@dataclass(frozen=True)
class Registration:
    """One registered method: what kind, under what name, by which plugin, built by which factory.

    Attributes
    ----------
    options
        The option names ``factory`` accepts, as declared by the plugin or read from the factory's
        signature; ``None`` when neither says (a factory taking ``**options``): then nothing is checked.
    presets
        Named option sets of this method (``{"paper": {...}, "default": {...}}``).
    """

    kind: Kind
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""
    options: tuple[str, ...] | None = None
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def check_options(self, options: Mapping[str, Any], *, also: Sequence[str] = ()) -> None:
        """Raise :class:`~attribkit.errors.OptionError` naming the first option the method does not take.

        ``also`` names options the caller takes around the method (the averaging options around an
        attributor): they are not passed here, but a misspelling of one is suggested and listed.

        Example
        -------
        >>> reg.check_options({"blurr": 0.03})   # doctest: +SKIP
        OptionError: unknown option 'blurr' for graphcut. Did you mean 'blur'? Known: blur, ...
        """
        if self.options is None:
            return
        for key in options:
            if key not in self.options:
                raise OptionError(_unknown("option", key, self.name, (*self.options, *also)))

    def preset(self, name: str) -> dict[str, Any]:
        """A copy of the named preset's options; :class:`~attribkit.errors.OptionError` if there is none."""
        if name not in self.presets:
            raise OptionError(_unknown("preset", name, self.name, sorted(self.presets)))
        return dict(self.presets[name])

    def create(self, *args: Any, also: Sequence[str] = (), **options: Any) -> Any:
        """``factory(*args, **options)`` after checking the option names (``also``: see :meth:`check_options`)."""
        self.check_options(options, also=also)
        return self.factory(*args, **options)


def _unknown(what: str, key: str, method: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {key!r} for {method}.{hint} Known: {', '.join(known) or '(none)'}."


def signature_options(factory: Callable[..., Any], *, skip: int) -> tuple[str, ...] | None:
    """The keyword names ``factory`` accepts after its first ``skip`` positional parameters, or ``None``
    when it takes ``**kwargs`` (or has no readable signature): then its options cannot be listed."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    Kind = inspect.Parameter
    if len(params) < skip or any(p.kind not in (Kind.POSITIONAL_ONLY, Kind.POSITIONAL_OR_KEYWORD)
                                 for p in params[:skip]):
        return None  # cannot take the model positionally: leave the call to report it
    return tuple(p.name for p in params[skip:] if p.kind in (Kind.POSITIONAL_OR_KEYWORD, Kind.KEYWORD_ONLY))


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin and what it registered (what ``attribkit plugins`` prints)."""

    name: str
    distribution: str | None
    registrations: tuple[Registration, ...]


#: How many positional arguments each kind's factory takes before its options (the model, or nothing).
_POSITIONAL = {"attributor": 1, "visualiser": 1, "localiser": 0}


class PluginRegistrar:
    """The :class:`~attribkit.hookspecs.Registrar` handed to ``attribkit_register``: it credits every
    registration to the plugin being called."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def _add(self, kind: Kind, name: str, factory: Callable[..., Any], description: str,
             options: Sequence[str] | None, presets: Mapping[str, Mapping[str, Any]] | None) -> None:
        self._registry._add(kind, name, factory, self._plugin, description, options, presets)

    def add_attributor(self, name: str, factory: Callable[..., Any], *, description: str = "",
                       options: Sequence[str] | None = None,
                       presets: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Register ``factory(model, **options) -> Attributor`` under ``name``."""
        self._add("attributor", name, factory, description, options, presets)

    def add_visualiser(self, name: str, factory: Callable[..., Any], *, description: str = "",
                       options: Sequence[str] | None = None,
                       presets: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Register ``factory(model, **options) -> Visualiser`` under ``name``."""
        self._add("visualiser", name, factory, description, options, presets)

    def add_localiser(self, name: str, factory: Callable[..., Any], *, description: str = "",
                      options: Sequence[str] | None = None,
                      presets: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Register ``factory(**options) -> Localiser`` under ``name``."""
        self._add("localiser", name, factory, description, options, presets)


@dataclass
class Registry:
    """Every registered method, by kind and name, with the plugin manager that produced them."""

    plugin_manager: pluggy.PluginManager
    distributions: dict[str, str | None] = field(default_factory=dict)
    _entries: dict[Kind, dict[str, Registration]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )

    def _add(
        self,
        kind: Kind,
        name: str,
        factory: Callable[..., Any],
        plugin: str,
        description: str = "",
        options: Sequence[str] | None = None,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
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
        if options is None:
            options = signature_options(factory, skip=_POSITIONAL[kind])
        known = None if options is None else tuple(options)
        checked = {}
        for preset, values in (presets or {}).items():
            if known is not None and (stray := sorted(set(values) - set(known))):
                raise PluginError(f"plugin {plugin!r}: preset {preset!r} of {kind} {name!r} sets unknown "
                                  f"options {stray}")
            checked[preset] = dict(values)
        table[name] = Registration(kind, name, factory, plugin, description, known, checked)

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
            kwargs = {"registry": PluginRegistrar(registry, impl.plugin_name)}
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


def set_registry(registry: Registry | None) -> Registry | None:
    """Make ``registry`` the process-wide one (what ``create_*``, ``localise`` and the study use); returns
    the one it replaces. ``None`` forgets it, like :func:`reset_registry`.

    For plugins registered in code rather than through an installed entry point::

        previous = attribkit.set_registry(attribkit.build_registry([("mine", my_module)]))
        ...
        attribkit.set_registry(previous)
    """
    global _registry
    if registry is not None and not isinstance(registry, Registry):
        raise TypeError(f"registry must be an attribkit.Registry (from build_registry); got {type(registry).__name__}")
    with _lock:
        previous, _registry = _registry, registry
    return previous


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


def create_attributor(name: str, model: Any, **options: Any) -> Attributor:
    """Build the attributor registered as ``name`` for ``model``.

    Raises :class:`~attribkit.errors.UnknownMethodError` (naming close matches) for an unknown name and
    :class:`~attribkit.errors.OptionError` for an option the method does not take.

    Example
    -------
    >>> sal = create_attributor("saliency", model)          # doctest: +SKIP
    >>> grads = sal.attribute(x, target=285)                 # doctest: +SKIP
    """
    return get_registry().get("attributor", name).create(model, **options)


def create_visualiser(name: str, model: Any, **options: Any) -> Visualiser:
    """Build the visualiser registered as ``name`` for ``model`` (errors as :func:`create_attributor`)."""
    return get_registry().get("visualiser", name).create(model, **options)


def create_localiser(name: str, **options: Any) -> Localiser:
    """Build the localiser registered as ``name`` (errors as :func:`create_attributor`)."""
    return get_registry().get("localiser", name).create(**options)
