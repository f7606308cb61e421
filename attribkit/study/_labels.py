"""What a row of a study's table is: the settings that made it, and whether it is a baseline.

Two rows named alike can be different computations: ``saliency + graphcut`` in a study of methods ×
localisers is GraphCut on its own defaults over the plain gradient, while ``attribkit evaluate``'s
``gradient (saliency+graphcut)`` is the ``gradient`` preset's seeds and blur; they score 0.40 and 0.60
on the same photos. :func:`describe` spells out every setting (preset, map averaging, the attributor's
options, the localiser's options with its own defaults), so the tables show what each number measures.

A baseline is a row every method must beat, not a contender: the ``centre`` localiser answers a centred
box without looking at the map (a *blind* row: the map's metrics are not its own), and the ``random``
attributor draws noise. Neither is ever named the best (:func:`attribkit.study._summary.compare`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

#: Localisers that ignore the map, and what they answer instead.
BLIND_LOCALISERS = {"centre": "a centred box; ignores the map"}
#: Attributors whose maps carry no information about the model.
BASELINE_METHODS = {"random": "a random map"}
#: Columns measured on the map alone: on a blind localiser's row they would be another row's numbers.
MAP_COLUMNS = ("deletion_auc", "insertion_auc", "road_morf", "road_lerf", "pointing", "max_box_acc",
               "max_box_acc_v2", "randomisation", "sanity")


def base_name(label: str) -> str:
    """``"centre[area=1.0]"`` → ``"centre"``: the registered name inside a study's record label."""
    return label.split("[", 1)[0].strip()


def blind(localiser: str) -> bool:
    """Whether a row's localiser (a record label, ``"-"`` for none) ignores the map."""
    return base_name(localiser) in BLIND_LOCALISERS


def baseline_of(method: str, localiser: str = "-") -> str | None:
    """Why a row (map label, localiser label) is a baseline, or ``None`` when it is a contender."""
    if blind(localiser):
        return f"baseline: {BLIND_LOCALISERS[base_name(localiser)]}"
    if base_name(method) in BASELINE_METHODS:
        return f"baseline: {BASELINE_METHODS[base_name(method)]}"
    return None


def own_cell(localiser: str, column: str) -> bool:
    """Whether ``column`` measures the row itself (not the map a blind localiser ignored)."""
    return not (blind(localiser) and column in MAP_COLUMNS)


def _defaults(factory: Any) -> dict[str, Any]:
    """The keyword defaults of a localiser's factory (class or function); ``{}`` when unreadable."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD}


def _options(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(values.items()))


def describe(resolved: Any) -> str:
    """Every setting of a resolved recipe (:class:`~attribkit.localisation.ResolvedRecipe`), in one line:
    ``"preset none · map saliency, plain · localiser graphcut(blur=0.0, ...; own defaults)"``.

    The localiser's options are those it ran with: its factory's defaults, then the preset's and the
    explicit ones (marked ``set``), so two rows that differ in any option read differently.
    """
    recipe = resolved.setting
    changed = resolved.averaging.changed()
    own = dict(resolved.attributor_options)
    method = recipe.attributor if isinstance(recipe.attributor, str) else type(recipe.attributor).__name__
    parts = [f"preset {recipe.preset or 'none'}",
             f"map {method}" + (f" ({_options({**changed, **own})})" if changed or own else ", plain")]
    if recipe.localiser is None:
        parts.append("no localiser")
    else:
        name = recipe.localiser if isinstance(recipe.localiser, str) else type(recipe.localiser).__name__
        given = dict(resolved.localiser_options)
        registration = resolved.localiser is not None and getattr(resolved.localiser, "__class__", None)
        defaults = _defaults(registration) if registration else {}
        rest = {k: v for k, v in defaults.items() if k not in given}
        text = f"localiser {name}"
        if given or rest:
            text += "(" + "; ".join(x for x in (f"set {_options(given)}" if given else "",
                                                 f"defaults {_options(rest)}" if rest else "") if x) + ")"
        parts.append(text)
    return " · ".join(parts)
