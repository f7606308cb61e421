"""Named localisation settings: ``preset="paper"`` (the paper read literally) and ``"default"``.

A preset has two halves. How the class maps are computed (averaging) belongs to this pipeline and is
listed here. What the localiser does is the localiser's business: each registration carries its own
presets (``registry.add_localiser(..., presets={"paper": {...}, "default": {...}})``), and the pipeline
asks the chosen localiser for the preset by name, so it never knows a localiser's option names. A
localiser that registers no presets runs on its own defaults under every preset; one that registers
some must have the one asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attribkit._core.registry import get_registry
from attribkit.attribution import AVERAGING_OPTIONS
from attribkit.errors import OptionError

#: Options that shape the maps: the averaging around any attributor (everything else given to
#: :func:`~attribkit.localise` goes to the localiser).
MAP_OPTIONS = AVERAGING_OPTIONS

#: The map half of each preset.
MAP_PRESETS: dict[str, dict[str, Any]] = {
    # The paper read literally: one plain gradient at the model's input size.
    "paper": {"ten_crop": False, "smoothgrad": 0, "scales": (1.0,)},
    # Measured on the 80 hand-boxed ImageNet dev photos (docs/localisation.md): 10-crop maps, the
    # paper's own averaging for its display maps, helped on both halves of the set.
    "default": {"ten_crop": True},
}
PRESETS = tuple(MAP_PRESETS)


def localiser_preset(localiser: str, preset: str) -> dict[str, Any]:
    """The options the registered ``localiser`` sets under ``preset`` (``{}`` if it registers none).

    Raises
    ------
    OptionError
        The localiser registers presets, but not this one.
    """
    registration = get_registry().get("localiser", localiser)
    return registration.preset(preset) if registration.presets else {}


def resolve_options(
    preset: str | None, localiser: str, options: Mapping[str, Any], *, attributor: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(map options, localiser options)`` from a preset name and explicit options (which win).

    ``localiser`` and ``attributor`` are registered names, or ``""`` for objects (a localiser object gets
    no preset). Each explicit option goes where it is known: averaging options and the attributor's own
    declared options (``n_steps`` of ``captum:integrated_gradients``) to the maps, everything else to
    the localiser, which rejects what it does not take. A name both declare goes to the localiser.

    Raises
    ------
    OptionError
        An unknown preset (a ``ValueError`` too), or one the localiser does not register.
    """
    preset = "default" if preset is None else preset
    if preset not in MAP_PRESETS:
        raise OptionError(f"unknown preset {preset!r}; known: {', '.join(sorted(MAP_PRESETS))}")
    registry = get_registry()
    method = registry.get("attributor", attributor).options if attributor else None
    taken = registry.get("localiser", localiser).options if localiser else None

    def for_maps(key: str) -> bool:
        if key in MAP_OPTIONS:
            return True
        return method is not None and key in method and not (taken is not None and key in taken)

    maps = {**MAP_PRESETS[preset], **{k: v for k, v in options.items() if for_maps(k)}}
    own = localiser_preset(localiser, preset) if localiser else {}
    loc = {**own, **{k: v for k, v in options.items() if not for_maps(k)}}
    return maps, loc
