"""The recipe: everything that decides a map and its boxes, apart from the model and the photo.

A :class:`Recipe` names a preset, an attributor, the averaging around it, the attributor's own options,
a localiser and its options. :meth:`Recipe.resolve` checks all of it against the registry once (names,
options, their types and ranges, the localiser built) and the answer is kept: :func:`~attribkit.saliency`,
:func:`~attribkit.localise`, a study (whose settings are recipes with a name) and every command-line verb
take a recipe and use the same resolution.

``preset=None`` means the same everywhere: no preset. The maps are the attributor's plain maps and the
localiser runs on its own defaults (only the options given count), and an attributor or localiser left
unnamed is the paper's: ``saliency`` and ``graphcut`` (:data:`~attribkit.localisation.NO_PRESET`). That
is what :func:`~attribkit.saliency` computes without a recipe.
"""

from __future__ import annotations

import inspect
import numbers
import threading
import types as _types
import typing
import weakref
from types import MappingProxyType
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from attribkit._core.interfaces import Attributor, Localiser
from attribkit._core.registry import Registration, Registry, get_registry
from attribkit.attribution import AVERAGING_OPTIONS, AveragingOptions, with_averaging
from attribkit.errors import OptionError, close_matches, did_you_mean
from attribkit.localisation._presets import pipeline, resolve_options

_LOCK = threading.Lock()
#: The recipe's option mappings, read-only once built.
_OPTION_FIELDS = ("options", "attributor_options", "localiser_options")


@dataclass(frozen=True)
class Recipe:
    """What to compute for a photo: preset, attributor and its averaging and options, localiser and its
    options (the study calls one with a name a setting: ``attribkit.study.Setting`` is this class).

    Parameters
    ----------
    name
        A name for tables and reports (a study's row); ``""``: made from the rest
        (``"gradcam+threshold (default)"``).
    attributor
        A registered attributor's name (``attribkit plugins``) or an attributor object; ``""`` or
        ``None``: the preset's (:data:`~attribkit.localisation.PIPELINES`; without a preset ``saliency``).
    localiser
        A registered localiser's name or a localiser object; ``""``: the preset's (without a preset
        ``graphcut``); ``None``: none (maps only).
    preset
        ``"default"`` (the best pipeline measured out of sample), ``"gradient"``, ``"paper"``, a preset a
        localiser registers, or ``None`` (no preset: plain maps, the localiser's own defaults). Its map
        and localiser options come first; explicit options override them.
    options
        Averaging options (``ten_crop``, ``crop_fraction``, ``smoothgrad``, ``vargrad``, ``noise``,
        ``scales``: :class:`~attribkit.attribution.AveragingOptions`), the attributor's own declared
        options and the localiser's, mixed: each goes where it is known. A name both take (``seed``), or
        none, is an :class:`~attribkit.errors.OptionError`.
    attributor_options
        The attributor's own options, unexamined by the routing (give a name both sides take here); unlike
        those in ``options`` they are not part of a study's map label.
    localiser_options
        Options for the localiser only (after the preset's and ``options``).
    localiser_label
        How a study's records name the localiser; ``None``: its name and resolved options.

    Raises
    ------
    OptionError
        An attributor or localiser that is neither a name nor an object of the kind, options that are not
        a mapping (when built); everything else when resolved (:meth:`resolve`).

    Example
    -------
    >>> recipe = attribkit.Recipe(preset="paper", options={"ten_crop": True})       # doctest: +SKIP
    >>> attribkit.localise(model, "cat.jpg", recipe=recipe, top_k=5)                # doctest: +SKIP
    """

    name: str = ""
    attributor: str | Attributor | None = ""
    localiser: str | Localiser | None = ""
    preset: str | None = "default"
    options: Mapping[str, Any] = field(default_factory=dict)
    attributor_options: Mapping[str, Any] = field(default_factory=dict)
    localiser_options: Mapping[str, Any] = field(default_factory=dict)
    localiser_label: str | None = None

    def __post_init__(self) -> None:
        if self.preset is not None and not isinstance(self.preset, str):
            raise OptionError(f"preset must be a preset's name or None; got {self.preset!r}")
        for name in _OPTION_FIELDS:
            value = getattr(self, name)
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise OptionError(f"{name} must be a mapping of option names to values; got {value!r}")
            # Read-only: a recipe is resolved once and its resolution kept, so options changed afterwards
            # would be shown by the recipe but not computed (dataclasses.replace makes a changed copy).
            object.__setattr__(self, name, MappingProxyType(dict(value)))
        chosen = pipeline(self.preset)
        if self.attributor is None or self.attributor == "":
            object.__setattr__(self, "attributor", chosen.attributor)
        elif not isinstance(self.attributor, str) and not callable(getattr(self.attributor, "attribute", None)):
            raise OptionError(f"attributor must be a registered name or an attributor object (with "
                              f".attribute()); got {type(self.attributor).__name__}")
        if self.localiser == "":
            object.__setattr__(self, "localiser", chosen.localiser)
        elif self.localiser is not None and not isinstance(self.localiser, str) and not callable(
                getattr(self.localiser, "localise", None)):
            raise OptionError(f"localiser must be a registered name, a localiser object (with .localise()) "
                              f"or None; got {type(self.localiser).__name__}")
        if not self.name:
            object.__setattr__(self, "name", self._described())

    def _described(self) -> str:
        parts = _name_of(self.attributor) + ("" if self.localiser is None else f"+{_name_of(self.localiser)}")
        given = {**self.options, **self.attributor_options, **self.localiser_options}
        if given:
            parts += "[" + ",".join(f"{k}={v!r}" for k, v in sorted(given.items())) + "]"
        return f"{parts} ({self.preset or 'no preset'})"

    def __getstate__(self) -> dict[str, Any]:
        # The resolution (a built localiser, attributors per model) stays in this process; the read-only
        # option mappings travel as dicts (a mappingproxy does not pickle).
        return {k: dict(v) if isinstance(v, MappingProxyType) else v
                for k, v in self.__dict__.items() if k != "_resolved"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, MappingProxyType(v) if k in _OPTION_FIELDS else v)

    def resolve(self) -> ResolvedRecipe:
        """Check everything against the registry and split the options: once per recipe (and registry).

        Raises
        ------
        UnknownMethodError
            An attributor or localiser name nobody registered (close names suggested).
        OptionError
            An unknown preset, or one the localiser does not register; an option no side takes (close
            names suggested) or both take; a value of the wrong type (``blur="abc"`` for a float) or out
            of its range (the averaging's, the localiser's own checks); a method's own options with an
            attributor object, localiser options with a localiser object.
        PluginError
            The plugin a name belongs to is broken.
        """
        registry = get_registry()
        cached = self.__dict__.get("_resolved")
        if cached is not None and cached[0] is registry:
            return cached[1]
        resolved = _resolve(self, registry)
        with _LOCK:  # two threads resolving at once both get a correct answer; one is kept
            object.__setattr__(self, "_resolved", (registry, resolved))
        return resolved


def _name_of(method: Any) -> str:
    return method if isinstance(method, str) else type(method).__name__


@dataclass(frozen=True, eq=False)
class ResolvedRecipe:
    """A recipe checked against the registry, with its options split (:meth:`Recipe.resolve`).

    Attributes
    ----------
    setting
        The recipe it came from (``recipe`` is the same).
    averaging
        The averaging around the attributor, checked.
    map_options
        The averaging options as a dict, every one (defaults included).
    attributor_options
        The attributor's own options (``attributor_options`` and those routed from ``options``).
    localiser_options
        The localiser's options (its preset's, then ``options``, then ``localiser_options``).
    map_label
        A study's ``method`` of the map's records: the attributor and the options that differ from the
        defaults (``"saliency[ten_crop=True]"``).
    localiser_label
        A study's ``localiser`` of its box records (``None``: maps only).
    localiser
        The localiser, built (``None``: maps only).
    """

    setting: Recipe
    averaging: AveragingOptions
    attributor_options: dict[str, Any]
    localiser_options: dict[str, Any]
    map_label: str
    localiser_label: str | None
    localiser: Localiser | None
    registration: Registration | None = field(default=None, repr=False)
    _built: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)

    @property
    def recipe(self) -> Recipe:
        """The recipe resolved."""
        return self.setting

    @property
    def map_options(self) -> dict[str, Any]:
        return self.averaging.as_dict()

    def attributor_for(self, model: torch.nn.Module) -> Attributor:
        """The attributor for ``model``, wrapped in the averaging: built on the first call per model,
        then the same object (attributors hold no per-call state)."""
        with _LOCK:
            built = self._built.get(model)
        if built is not None:
            return built
        if self.registration is None:
            base = self.setting.attributor
        else:
            base = self.registration.create(model, also=AVERAGING_OPTIONS, **self.attributor_options)
        built = with_averaging(base, self.averaging)  # type: ignore[arg-type]
        with _LOCK:
            return self._built.setdefault(model, built)


def _resolve(recipe: Recipe, registry: Registry) -> ResolvedRecipe:
    attributor, localiser = recipe.attributor, recipe.localiser
    attributor_name = attributor if isinstance(attributor, str) else ""
    localiser_name = localiser if isinstance(localiser, str) else ""
    method = registry.get("attributor", attributor_name) if attributor_name else None
    taker = registry.get("localiser", localiser_name) if localiser_name else None
    maps, loc = resolve_options(recipe.preset, localiser_name, recipe.options, attributor=attributor_name)
    stray = sorted(loc) if taker is None else [k for k in loc if taker.options is not None and k not in taker.options]
    if method is None and stray and (localiser is None or taker is not None):
        # With an attributor object, what the localiser does not take can only have been meant for it.
        raise OptionError(f"options {stray} are a method's own: they need a method name, not an "
                          f"attributor object ({type(attributor).__name__})")
    if localiser is None and loc:
        # Maps only: what the routing left for a localiser is the method's (if its options are not
        # listed), else no one's.
        if method is not None and method.options is None:
            maps.update(loc)
        else:
            key = next(iter(loc))
            known = [*AVERAGING_OPTIONS, *((method.options or ()) if method is not None else ())]
            hint = did_you_mean(close_matches(key, known))
            raise OptionError(f"unknown option {key!r} for {_name_of(attributor)} (no localiser).{hint} "
                              f"Known: {', '.join(known)}.")
        loc = {}
    given_own = {k: v for k, v in maps.items() if k not in AVERAGING_OPTIONS}
    extra = dict(recipe.attributor_options)
    averaging = AveragingOptions.from_options({
        **{k: v for k, v in maps.items() if k in AVERAGING_OPTIONS},
        # Averaging options among a method's options shape the maps (they are no option of the method).
        **{k: extra.pop(k) for k in list(extra) if k in AVERAGING_OPTIONS},
    })
    own = {**extra, **given_own}
    if method is None and own:
        raise OptionError(f"options {sorted(own)} are a method's own: they need a method name, not an "
                          f"attributor object ({type(attributor).__name__})")
    if method is not None:
        method.check_options(own, also=AVERAGING_OPTIONS)
        check_values(method, own)
    built: Localiser | None = None
    if localiser is not None:
        loc = {**loc, **recipe.localiser_options}
        if taker is None:
            if loc:
                raise OptionError(f"options {sorted(loc)} need a localiser name, not a localiser object "
                                  f"({type(localiser).__name__})")
            built = localiser  # type: ignore[assignment]
        else:
            check_values(taker, loc)
            # A localiser needs no model: built now, its own range checks speak before any model work.
            built = taker.create(**loc)
    elif recipe.localiser_options:
        raise OptionError(f"localiser_options {sorted(recipe.localiser_options)} given without a localiser")
    label = recipe.localiser_label
    if label is None and localiser is not None:
        label = _labelled(_name_of(localiser), loc)
    map_label = _labelled(_name_of(attributor), {**averaging.changed(), **given_own})
    return ResolvedRecipe(recipe, averaging, own, loc, map_label, label, built, method)


def _labelled(name: str, options: Mapping[str, Any]) -> str:
    if not options:
        return name
    return f"{name}[{','.join(f'{k}={v!r}' for k, v in sorted(options.items()))}]"


def check_values(registration: Registration, options: Mapping[str, Any]) -> None:
    """:class:`~attribkit.errors.OptionError` for an option value whose type does not fit the factory's
    annotation (``blur="abc"`` for a ``float``), naming the option, the method and the types taken."""
    types = option_types(registration.factory)
    for key, value in options.items():
        expected = types.get(key)
        if expected is not None and not _fits(value, expected):
            names = " or ".join(t.__name__ if t is not type(None) else "none" for t in expected)
            raise OptionError(f"option {key}={value!r} of {registration.kind} {registration.name!r}: "
                              f"takes {names}")


def option_types(factory: Any) -> dict[str, tuple[type, ...]]:
    """The plain types (bool, int, float, str, None) each keyword of ``factory`` is annotated with; options
    annotated otherwise (or not at all) are left out, so they are not checked."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # annotations that do not evaluate (a plugin's): nothing to check against
        return {}
    plain = (bool, int, float, str, type(None))
    out: dict[str, tuple[type, ...]] = {}
    for key, hint in hints.items():
        members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _types.UnionType) else (hint,)
        if members and all(m in plain for m in members):
            out[key] = tuple(members)
    return out


def _fits(value: Any, expected: tuple[type, ...]) -> bool:
    for t in expected:
        if t is type(None) and value is None:
            return True
        if t is bool and isinstance(value, bool):
            return True
        if t is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return True
        if t is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return True
        if t is str and isinstance(value, str):
            return True
    return False
