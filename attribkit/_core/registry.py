"""The plugin registry: a pluggy manager factory, entry-point loading and the list_*/create_* verbs.

No plugin manager exists at import time. The first call of a verb builds one (see :func:`get_registry`);
tests build their own with :func:`build_registry`.

Entry points are loaded lazily, when a name needs them (:meth:`Registry.get`): a namespaced name
``captum:gradcam`` loads only the ``captum`` entry point; a bare name loads the entry point of that name
(built-ins are named after their main method) and every third-party plugin (any of them may override a
built-in); a name found nowhere else, and every listing, loads them all. So ``--method saliency`` never
imports GraphCut's scikit-learn. A plugin that fails to import or to register is reported once as a
:class:`~attribkit.errors.PluginLoadWarning` and set aside; asking for its methods raises
:class:`~attribkit.errors.PluginError` saying why. ``ATTRIBKIT_STRICT_PLUGINS=1`` loads every plugin when
the registry is built and raises at the first broken one (for CI).
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from attribkit import hookspecs
from attribkit.errors import (
    AttribkitError,
    OptionError,
    PluginConflictWarning,
    PluginError,
    PluginLoadWarning,
    UnknownMethodError,
    close_matches,
    did_you_mean,
)

if TYPE_CHECKING:  # the interfaces import torch; the registry itself must not (``attribkit --help``)
    from attribkit._core.interfaces import Attributor, Localiser, Visualiser

Kind = Literal["attributor", "visualiser", "localiser"]
KINDS: tuple[Kind, ...] = ("attributor", "visualiser", "localiser")

#: Comma-separated plugin names (entry-point names) that are not loaded.
DISABLE_ENV = "ATTRIBKIT_DISABLE_PLUGINS"
#: ``1`` (or ``true``/``yes``): load every plugin when the registry is built and raise at a broken one.
STRICT_ENV = "ATTRIBKIT_STRICT_PLUGINS"
#: Separates a plugin's namespace from the method name (``captum:gradcam``).
NAMESPACE_SEP = ":"
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
        """``factory(*args, **options)`` after checking the option names (``also``: see :meth:`check_options`).

        A plain ``ValueError`` or ``TypeError`` from the factory (a plugin's own range or type check) is
        re-raised as :class:`~attribkit.errors.OptionError` naming the method, with the original as its
        cause, so callers and the command line see one error tree whoever wrote the method.
        """
        self.check_options(options, also=also)
        try:
            return self.factory(*args, **options)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, AttribkitError):
                raise
            raise OptionError(f"bad option for {self.kind} {self.name!r}: {exc}") from exc


def _unknown(what: str, key: str, method: str, known: Sequence[str]) -> str:
    known = list(dict.fromkeys(known))
    hint = did_you_mean(close_matches(key, known))
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
    """A plugin and what it registered (what ``attribkit plugins`` prints).

    Attributes
    ----------
    error
        Why the plugin is set aside (failed to import or to register), or ``None`` when it loaded.
    """

    name: str
    distribution: str | None
    registrations: tuple[Registration, ...]
    error: str | None = None


#: How many positional arguments each kind's factory takes before its options (the model, or nothing).
_POSITIONAL = {"attributor": 1, "visualiser": 1, "localiser": 0}


def _registration(kind: Kind, name: str, factory: Callable[..., Any], plugin: str, description: str,
                  options: Sequence[str] | None,
                  presets: Mapping[str, Mapping[str, Any]] | None) -> Registration:
    """A checked :class:`Registration`; :class:`~attribkit.errors.PluginError` naming the plugin otherwise."""
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin!r} registered a {kind} with an invalid name {name!r}")
    if not callable(factory):
        raise PluginError(f"plugin {plugin!r} registered {kind} {name!r} with a non-callable factory")
    if options is None:
        options = signature_options(factory, skip=_POSITIONAL[kind])
    known = None if options is None else tuple(options)
    checked = {}
    for preset, values in (presets or {}).items():
        if known is not None and (stray := sorted(set(values) - set(known))):
            raise PluginError(f"plugin {plugin!r}: preset {preset!r} of {kind} {name!r} sets unknown "
                              f"options {stray}")
        checked[preset] = dict(values)
    return Registration(kind, name, factory, plugin, description, known, checked)


class PluginRegistrar:
    """The :class:`~attribkit.hookspecs.Registrar` handed to ``attribkit_register``: it credits every
    registration to the plugin being called, and holds them until the hook returns, so a plugin that
    raises half-way registers nothing."""

    def __init__(self, plugin: str) -> None:
        self._plugin = plugin
        self.added: list[Registration] = []

    def _add(self, kind: Kind, name: str, factory: Callable[..., Any], description: str,
             options: Sequence[str] | None, presets: Mapping[str, Mapping[str, Any]] | None) -> None:
        self.added.append(_registration(kind, name, factory, self._plugin, description, options, presets))

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


#: (hook order class, registration rank): the larger is called first by pluggy, and wins a name.
_Priority = tuple[int, int]


@dataclass
class Registry:
    """Every registered method, by kind and name, with the plugin manager that produced them.

    Entry points are loaded when a name needs them (see the module docstring); ``broken`` maps each plugin
    set aside to why. Lookups are thread-safe.
    """

    plugin_manager: pluggy.PluginManager
    distributions: dict[str, str | None] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    _entries: dict[Kind, dict[str, Registration]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    _pending: dict[str, metadata.EntryPoint] = field(default_factory=dict)
    _rank: dict[str, int] = field(default_factory=dict)
    _priority: dict[tuple[Kind, str], _Priority] = field(default_factory=dict)
    _strict: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- loading ---------------------------------------------------------------------------------------
    def _register(self, name: str, plugin: object) -> None:
        """Register ``plugin`` with pluggy and call its ``attribkit_register``; errors propagate."""
        pm = self.plugin_manager
        if pm.register(plugin, name=name) is None:
            return  # blocked
        try:
            pm.check_pending()
            # Call each implementation on its own, so an error names its plugin and every registration
            # is credited to the plugin that made it. Who wins a name does not depend on the order plugins
            # are loaded in: it is pluggy's call order (tryfirst/trylast, then last registered first).
            for impl in pm.hook.attribkit_register.get_hookimpls():
                if impl.plugin_name != name:
                    continue
                registrar = PluginRegistrar(name)
                try:
                    kwargs = {"registry": registrar}
                    impl.function(*(kwargs[arg] for arg in impl.argnames))
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"plugin {name!r} raised while registering: {type(exc).__name__}: {exc}"
                    ) from exc
                order = 2 if impl.tryfirst else 0 if impl.trylast else 1
                for reg in registrar.added:
                    self._commit(reg, (order, self._rank[name]))
        except BaseException:
            pm.unregister(name=name)
            raise

    def _commit(self, reg: Registration, priority: _Priority) -> None:
        table, key = self._entries[reg.kind], (reg.kind, reg.name)
        if reg.name in table:
            old = table[reg.name]
            keep, lose = (reg, old) if priority > self._priority[key] else (old, reg)
            warnings.warn(
                f"{reg.kind} {reg.name!r} is registered by both {keep.plugin!r} and {lose.plugin!r}; "
                f"using {keep.plugin!r} (the plugin called first wins, see attribkit_register)",
                PluginConflictWarning,
                stacklevel=6,
            )
            if keep is old:
                return
        table[reg.name] = reg
        self._priority[key] = priority

    def _load(self, name: str) -> None:
        """Load one pending entry point; a broken one is set aside with a warning (or raised if strict)."""
        ep = self._pending.pop(name, None)
        if ep is None:
            return
        try:
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a plugin calling sys.exit() on import must not end the command
                raise PluginError(
                    f"plugin {name!r} (entry point {ep.value!r} of distribution {self.distributions.get(name)!r}) "
                    f"failed to import: {type(exc).__name__}: {exc}"
                ) from exc
            try:
                self._register(name, plugin)
            except PluginError:
                raise
            except Exception as exc:  # pluggy's validation of the hook implementations
                raise PluginError(f"plugin {name!r} is not a valid attribkit plugin: {exc}") from exc
        except PluginError as exc:
            if self._strict:
                raise PluginError(f"{exc}. Set {DISABLE_ENV}={name} to skip it.") from exc.__cause__
            self.broken[name] = str(exc)
            warnings.warn(
                f"{exc}; its methods are unavailable, everything else works. Set {DISABLE_ENV}={name} to "
                f"skip it, or {STRICT_ENV}=1 to make this an error.",
                PluginLoadWarning,
                stacklevel=5,
            )

    def load_all(self) -> None:
        """Load every pending entry point (what listing needs)."""
        with self._lock:
            for name in list(self._pending):
                self._load(name)

    def _load_for(self, name: str) -> None:
        namespace, sep, _ = name.partition(NAMESPACE_SEP)
        if sep and namespace in self._pending:
            self._load(namespace)  # a namespaced name belongs to the plugin of that name
            return
        if name in self._pending:
            self._load(name)
        # Any third-party plugin may override a built-in's bare name (see attribkit_register).
        for other in [n for n in self._pending if self.distributions.get(n) != BUILTIN_DISTRIBUTION]:
            self._load(other)

    # -- lookups ---------------------------------------------------------------------------------------
    def names(self, kind: Kind, pattern: str = "*") -> list[str]:
        with self._lock:
            self.load_all()
            return sorted(n for n in self._entries[kind] if fnmatch.fnmatchcase(n, pattern))

    def get(self, kind: Kind, name: str) -> Registration:
        """The registration of ``name``, loading only the plugins it needs.

        Raises :class:`~attribkit.errors.PluginError` when the plugin the name belongs to (its namespace,
        or the plugin of that name) is broken, :class:`~attribkit.errors.UnknownMethodError` otherwise.
        """
        with self._lock:
            table = self._entries[kind]
            self._load_for(name)  # even when the name is known: a plugin not loaded yet may override it
            if name not in table:
                self.load_all()
            if name in table:
                return table[name]
            owner = name.partition(NAMESPACE_SEP)[0]
            for plugin in (owner, name):
                if plugin in self.broken:
                    raise PluginError(f"{kind} {name!r} is unavailable: {self.broken[plugin]}. "
                                      f"Fix or reinstall that plugin, or set {DISABLE_ENV}={plugin}.")
            raise UnknownMethodError(kind, name, self.names(kind))

    def plugins(self) -> list[PluginInfo]:
        with self._lock:
            self.load_all()
            by_plugin: dict[str, list[Registration]] = {}
            for table in self._entries.values():
                for reg in table.values():
                    by_plugin.setdefault(reg.plugin, []).append(reg)
            pm = self.plugin_manager
            names = {n for n in (pm.get_name(p) for p in pm.get_plugins()) if n is not None}
            return [
                PluginInfo(n, self.distributions.get(n), tuple(by_plugin.get(n, ())), self.broken.get(n))
                for n in sorted(names | set(self.broken))
            ]


def _disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


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
    strict: bool | None = None,
) -> Registry:
    """Build a fresh plugin manager and registry.

    Parameters
    ----------
    plugins
        Extra ``(name, plugin)`` pairs, registered now, after the entry points (so they are called first
        and win a name conflict against them). A broken one raises :class:`~attribkit.errors.PluginError`.
    entry_points
        Use the ``attribkit`` entry-point group (built-ins and installed third-party plugins); each is
        loaded when a name needs it.
    disabled
        Plugin names not to load; defaults to the comma-separated ``ATTRIBKIT_DISABLE_PLUGINS``.
    strict
        Load every entry point now and raise :class:`~attribkit.errors.PluginError` at a broken one,
        instead of warning (:class:`~attribkit.errors.PluginLoadWarning`) and setting it aside; defaults to
        ``ATTRIBKIT_STRICT_PLUGINS``.
    """
    blocked = _disabled_from_env() if disabled is None else set(disabled)
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    registry = Registry(pm, _strict=_strict_from_env() if strict is None else bool(strict))
    for name in blocked:
        pm.set_blocked(name)

    # Ranks follow the order an eager load would register in (built-ins, third parties, code plugins):
    # pluggy calls the last registered first, so that order decides who wins a name.
    if entry_points:
        for ep, dist in _entry_points():
            if not pm.is_blocked(ep.name):
                registry._pending[ep.name] = ep
                registry._rank[ep.name] = len(registry._rank)
                registry.distributions[ep.name] = dist
    for name, plugin in plugins:
        if isinstance(plugin, str):
            plugin = importlib.import_module(plugin)
        if pm.is_blocked(name):
            continue
        registry._rank[name] = len(registry._rank)
        registry.distributions[name] = None
        registry._register(name, plugin)
    # Code plugins are usually overrides (tests, notebooks): load everything now so that a conflict
    # with an installed plugin is reported where the override is made, as an eager registry did.
    if registry._strict or registry._rank.keys() - registry._pending.keys():
        registry.load_all()
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
        raise OptionError(
            f"registry must be an attribkit.Registry (from build_registry); got {type(registry).__name__}"
        )
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


def create_visualiser(name: str, model: Any, **options: Any) -> Visualiser:
    """Build the visualiser registered as ``name`` for ``model``.

    Raises :class:`~attribkit.errors.UnknownMethodError` (naming close matches) for an unknown name and
    :class:`~attribkit.errors.OptionError` for an option the method does not take.
    """
    return get_registry().get("visualiser", name).create(model, **options)


def create_localiser(name: str, **options: Any) -> Localiser:
    """Build the localiser registered as ``name`` (errors as :func:`create_visualiser`)."""
    return get_registry().get("localiser", name).create(**options)
