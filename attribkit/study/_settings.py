"""Study settings: what one row of a study computes, and the named lists of ``attribkit evaluate``.

A setting is a :class:`~attribkit.Recipe` with a name: an attributor with its map options (10-crop,
SmoothGrad, scales), a localiser with its options (a preset's, then explicit ones), and a name for the
table. A study runs a list of settings;
``methods × localisers`` is the list of every pair. Records are keyed by what was computed, not by the
setting's name: the map by attributor + map options (:attr:`ResolvedSetting.map_label`), the boxes by that
and the localiser + its options (:attr:`ResolvedSetting.localiser_label`). Settings that share a map share
its records, and the map is computed once for all of them.

The ablation list is the table of docs/localisation.md: each lever changed alone from the default, then
the paper's literal settings and the baselines. Nothing here depends on a particular photo or class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attribkit.attribution import AVERAGING_OPTIONS, AveragingOptions
from attribkit.errors import UnknownNameError
from attribkit.localisation._recipe import Recipe, ResolvedRecipe, _labelled

#: The averaging options at their defaults (:class:`~attribkit.attribution.AveragingOptions`'); a map
#: label names only those that differ.
MAP_DEFAULTS: dict[str, Any] = AveragingOptions().as_dict()

#: A study's setting is a :class:`~attribkit.Recipe` with a name (the table's row): one concept.
#: ``Setting("name", attributor, localiser, preset, options, ...)``; ``preset=None`` is no preset, as
#: everywhere (plain maps, the localiser's own defaults, ``saliency`` + ``graphcut`` where none is named).
Setting = Recipe

#: A setting resolved (:meth:`Recipe.resolve`): what the study computes for it.
ResolvedSetting = ResolvedRecipe


def map_label(attributor: str, map_options: Mapping[str, Any]) -> str:
    """``"saliency"``, ``"saliency[ten_crop=True]"``, ``"saliency[smoothgrad=8]"``: the map's key.

    Averaging options at their defaults are left out, and ``noise`` without SmoothGrad or VarGrad (it has
    no effect); a method's own options are always named.
    """
    averaging = AveragingOptions.from_options({k: v for k, v in map_options.items() if k in AVERAGING_OPTIONS})
    own = {k: v for k, v in map_options.items() if k not in AVERAGING_OPTIONS}
    return _labelled(attributor, {**averaging.changed(), **own})


def cross_settings(
    methods: Sequence[str],
    localisers: Sequence[str] = (),
    *,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    localiser_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Setting]:
    """Every method × localiser (each method alone when there is no localiser), records named by the bare
    method and localiser names (the options are the same for every photo of a study)."""
    method_options, localiser_options = method_options or {}, localiser_options or {}
    out = []
    for m in dict.fromkeys(methods):
        # Averaging options among a method's options shape its maps (they are no option of the method).
        given = dict(method_options.get(m, {}))
        averaging = {k: given.pop(k) for k in list(given) if k in AVERAGING_OPTIONS}
        for loc in dict.fromkeys(localisers or [None]):  # type: ignore[list-item]
            out.append(Setting(m if loc is None else f"{m}+{loc}", m, loc, None, options=averaging,
                               attributor_options=given,
                               localiser_options=dict(localiser_options.get(loc, {})) if loc else {},
                               localiser_label=loc))
    return out


STANDARD = [
    Setting("default (gradcam+threshold)"),
    Setting("gradient (saliency+graphcut)", preset="gradient"),
    Setting("paper (saliency+graphcut)", preset="paper"),
    Setting("centre box", localiser="centre"),
    Setting("whole image", localiser="centre", options={"area": 1.0}),
]

ABLATION = STANDARD + [
    # The default with one lever changed (bench/wsol_levers.py runs the cross-validated grid).
    Setting("default, box of all foreground", options={"component": "all"}),
    Setting("default, threshold 0.1", options={"fraction": 0.1}),
    Setting("default, threshold 0.3", options={"fraction": 0.3}),
    Setting("default, blur 0.02", options={"blur": 0.02}),
    Setting("default + 10-crop", options={"ten_crop": True}),
    Setting("default, Grad-CAM at 2x input", options={"scales": (2.0,)}),
    Setting("default, GraphCut on Grad-CAM", localiser="graphcut"),
    Setting("default, guided backprop maps", attributor="guided_backprop", options={"fraction": 0.1, "component": "all"}),
    Setting("default, gradient maps", attributor="saliency", options={"component": "all"}),
    # The paper's settings with one lever changed.
    Setting("paper, one plain gradient", preset="paper", options={"ten_crop": False}),
    Setting("paper + box of all foreground", preset="paper", options={"component": "all"}),
    Setting("paper + blur 0.05", preset="paper", options={"blur": 0.05}),
    Setting("paper + probable seeds", preset="paper", options={"sure_seeds": False}),
    Setting("paper + DeconvNet maps", preset="paper", attributor="deconvnet"),
]

_NAMED = {"standard": STANDARD, "ablation": ABLATION}


def named_settings(name: str) -> list[Setting]:
    """``"standard"`` or ``"ablation"``; :class:`~attribkit.errors.UnknownNameError` (a ``KeyError`` too)
    naming the known lists otherwise."""
    if name not in _NAMED:
        raise UnknownNameError(f"unknown settings {name!r}; known: {', '.join(sorted(_NAMED))}")
    return list(_NAMED[name])
