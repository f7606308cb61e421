"""Named localisation settings: ``preset="default"`` (the best pipeline measured out of sample),
``"gradient"`` (the best that uses only the paper's own gradient maps) and ``"paper"`` (the paper read
literally).

A preset names the attributor and localiser used when none is given (:data:`PIPELINES`) and has two
halves of options. How the class maps are computed (averaging) belongs to this pipeline and is listed
here. What the localiser does is the localiser's business: each registration carries its own presets
(``registry.add_localiser(..., presets={"paper": {...}, "default": {...}})``), and the pipeline asks the
chosen localiser for the preset by name, so it never knows a localiser's option names. A localiser that
registers no presets runs on its own defaults under every preset; one that registers some must have the
one asked for. A localiser may register presets of other names (``"fast"``): under those the maps take
the ``"default"`` half and the default pipeline's attributor.

The values were chosen by 5-fold cross-validation on 500 ILSVRC-2012 validation photos with the official
boxes (``bench/wsol_levers.py``; docs/localisation.md has the lever table with held-out means and
intervals). Nothing here depends on a particular photo or class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attribkit._core.registry import get_registry
from attribkit.attribution import AVERAGING_OPTIONS
from attribkit.errors import OptionError, close_matches, did_you_mean

#: Options that shape the maps: the averaging around any attributor (everything else given to
#: :func:`~attribkit.localise` goes to the localiser).
MAP_OPTIONS = AVERAGING_OPTIONS

@dataclass(frozen=True)
class Pipeline:
    """The attributor and localiser a preset uses when the caller names none."""

    attributor: str
    localiser: str


#: Each preset's attributor and localiser.
PIPELINES: dict[str, Pipeline] = {
    # Section 4 of the paper: the gradient saliency map seeds GraphCut.
    "paper": Pipeline("saliency", "graphcut"),
    # The best measured with the paper's own gradient maps (held out: below the centre box).
    "gradient": Pipeline("saliency", "graphcut"),
    # Held out on the 500 ILSVRC dev photos, Grad-CAM maps boxed by a threshold beat every gradient
    # map and every GraphCut setting on them (docs/localisation.md, "The levers").
    "default": Pipeline("gradcam", "threshold"),
}

#: The map half of each preset.
MAP_PRESETS: dict[str, dict[str, Any]] = {
    # The paper read literally ("Image-Specific Class Saliency Visualisation": "similarly to the ConvNet
    # classification procedure, where the class predictions are computed on 10 cropped and reflected
    # sub-images, we computed 10 saliency maps for each image, and averaged them"): the 10 crops and
    # their mirror images, each 224/256 of the side of the image they are cut from, as the paper's 224
    # crops of its 256 images. docs/paper.md says what still differs (the crops are cut from the model's
    # 224 view, not a 256 one) and measures it.
    "paper": {"ten_crop": True, "crop_fraction": 224 / 256, "smoothgrad": 0, "scales": (1.0,)},
    "gradient": {},
    # Grad-CAM at the model's own input: 10 crops, 2x input scale and whole-photo input did not help.
    "default": {},
}
PRESETS = tuple(MAP_PRESETS)


#: Without a preset (``preset=None``): the paper's methods, each on its own defaults.
NO_PRESET = Pipeline("saliency", "graphcut")


def pipeline(preset: str | None) -> Pipeline:
    """The attributor and localiser of ``preset`` (``None``: no preset, :data:`NO_PRESET`; a localiser's
    own preset name: the default's)."""
    if preset is None:
        return NO_PRESET
    return PIPELINES.get(preset, PIPELINES["default"])


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
    preset: str | None,
    localiser: str,
    options: Mapping[str, Any],
    *,
    attributor: str = "",
    attributor_options: Mapping[str, Any] | None = None,
    localiser_options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(map options, localiser options)`` from a preset name (``None``: no preset) and explicit options
    (which win).

    ``localiser`` and ``attributor`` are registered names, or ``""`` for objects (a localiser object gets
    no preset). Each of ``options`` goes where it is known: averaging options and the attributor's own
    declared options (``n_steps`` of ``captum:integrated_gradients``) to the maps, the localiser's to the
    localiser. ``attributor_options`` and ``localiser_options`` go to their side unexamined: that is how
    to pass a name both sides take (``seed`` of ``random`` and of ``graphcut``).

    Raises
    ------
    OptionError
        An unknown preset (a ``ValueError`` too), or one the localiser does not register; an option
        both sides take, given in ``options``; an option no side takes (close names suggested).
    """
    registry = get_registry()
    own_presets = registry.get("localiser", localiser).presets if localiser else {}
    if preset is not None and preset not in MAP_PRESETS and preset not in own_presets:
        known = sorted({*MAP_PRESETS, *own_presets})
        hint = did_you_mean(close_matches(str(preset), known))
        raise OptionError(f"unknown preset {preset!r}; known: {', '.join(known)}.{hint}")
    method = registry.get("attributor", attributor).options if attributor else None
    taken = registry.get("localiser", localiser).options if localiser else None
    if preset is None:  # no preset: plain maps, the localiser's own defaults
        maps, loc = {}, {}
    else:
        maps = dict(MAP_PRESETS.get(preset, MAP_PRESETS["default"]))
        loc = localiser_preset(localiser, preset) if localiser else {}
    for key, value in options.items():
        to_maps = key in MAP_OPTIONS or (method is not None and key in method)
        to_localiser = taken is not None and key in taken
        if to_maps and to_localiser:
            raise OptionError(
                f"option {key!r} is taken by both attributor {attributor!r} and localiser {localiser!r}; "
                "pass it in attributor_options= or localiser_options="
            )
        if not to_maps and not to_localiser and method is not None and taken is not None:
            raise OptionError(_unknown_everywhere(key, attributor, method, localiser, taken))
        (maps if to_maps else loc)[key] = value
    maps.update(attributor_options or {})
    loc.update(localiser_options or {})
    return maps, loc


def _unknown_everywhere(key: str, attributor: str, method: Sequence[str], localiser: str,
                        taken: Sequence[str]) -> str:
    groups = {"averaging": MAP_OPTIONS, attributor: method, localiser: taken}
    hint = did_you_mean(close_matches(key, [n for names in groups.values() for n in names]))
    if key == "options":  # localise(model, photo, options={...}): the Recipe's field, given as a keyword
        hint = " Give the options as keywords (blur=0.03), or a recipe=attribkit.Recipe(options={...})."
    known = "; ".join(f"{group}: {', '.join(names) or '(none)'}" for group, names in groups.items())
    return f"unknown option {key!r} for {attributor} + {localiser}.{hint} Known: {known}."
