"""Study settings: what one row of a study computes, and the named lists of ``attribkit evaluate``.

A setting is an attributor with its map options (10-crop, SmoothGrad, scales), a localiser with its
options (a preset's, then explicit ones), and a name for the table. A study runs a list of settings;
``methods × localisers`` is the list of every pair. Records are keyed by what was computed, not by the
setting's name: the map by attributor + map options (:attr:`ResolvedSetting.map_label`), the boxes by that
and the localiser + its options (:attr:`ResolvedSetting.localiser_label`). Settings that share a map share
its records, and the map is computed once for all of them.

The ablation list is the table of docs/localisation.md: each lever changed alone from the default, then
the paper's literal settings and the baselines. Nothing here depends on a particular photo or class.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attribkit.attribution import AVERAGING_OPTIONS, with_averaging
from attribkit.localisation._presets import pipeline, resolve_options

#: The averaging options at their defaults (:func:`~attribkit.attribution.with_averaging`'s); a map label
#: names only those that differ.
MAP_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(with_averaging).parameters.items() if name in AVERAGING_OPTIONS
}


@dataclass(frozen=True)
class Setting:
    """One setting of a study: an attributor and its maps, a localiser and its options, a name.

    Attributes
    ----------
    name
        The setting's row in the table.
    attributor
        A registered attributor (``attribkit plugins`` lists them); ``""``: the preset's
        (:data:`~attribkit.localisation.PIPELINES`).
    localiser
        A registered localiser, ``None`` for maps only, ``""`` for the preset's.
    preset
        A localisation preset (``"default"``, ``"paper"``) whose map and localiser options come first;
        ``None``: no preset (the attributor's plain map, the localiser's own defaults).
    options
        As :func:`attribkit.localise`'s ``**options``: averaging options (``ten_crop``, ``smoothgrad``,
        ``vargrad``, ``noise``, ``scales``, ``crop_fraction``), the attributor's own declared options
        and the localiser's options, mixed; each goes where it is known and overrides the preset's. With
        ``preset=None`` only the averaging options go to the maps (give a method's own options in
        ``attributor_options``).
    attributor_options
        The attributor's own options (e.g. a Captum layer); unlike those in ``options``, they are not
        part of the map's label.
    localiser_options
        Options for the localiser only (after the preset's and ``options``).
    localiser_label
        How records name the localiser; ``None``: its name and resolved options (``graphcut[smoothness=150.0]``).
    """

    name: str
    attributor: str = ""
    localiser: str | None = ""
    preset: str | None = "default"
    options: Mapping[str, Any] = field(default_factory=dict)
    attributor_options: Mapping[str, Any] = field(default_factory=dict)
    localiser_options: Mapping[str, Any] = field(default_factory=dict)
    localiser_label: str | None = None

    def __post_init__(self) -> None:
        # "" means the preset's choice (PIPELINES; without a preset, the paper's saliency and GraphCut);
        # None (localiser) means maps only.
        chosen = pipeline("paper" if self.preset is None else self.preset)
        if not self.attributor:
            object.__setattr__(self, "attributor", chosen.attributor)
        if self.localiser == "":
            object.__setattr__(self, "localiser", chosen.localiser)

    def resolve(self) -> ResolvedSetting:
        """Split and resolve the options (needs the registry: presets and declared options live there).

        Raises :class:`~attribkit.errors.OptionError` (a ``ValueError`` too) for an unknown preset or
        one the localiser does not register, :class:`~attribkit.UnknownMethodError` for an unknown name.
        """
        options = dict(self.options)
        if self.preset is None:
            maps = {k: v for k, v in options.items() if k in AVERAGING_OPTIONS}
            loc = {k: v for k, v in options.items() if k not in AVERAGING_OPTIONS}
        else:
            maps, loc = resolve_options(self.preset, self.localiser or "", options, attributor=self.attributor)
        own = {k: v for k, v in maps.items() if k not in AVERAGING_OPTIONS}
        averaging = {**MAP_DEFAULTS, **{k: v for k, v in maps.items() if k in AVERAGING_OPTIONS}}
        if isinstance(averaging["scales"], (int, float)):
            averaging["scales"] = (averaging["scales"],)
        averaging["scales"] = tuple(float(s) for s in averaging["scales"])
        loc = {**loc, **self.localiser_options} if self.localiser is not None else {}
        label = self.localiser_label
        if label is None and self.localiser is not None:
            label = _labelled(self.localiser, loc)
        return ResolvedSetting(self, averaging, {**self.attributor_options, **own}, loc,
                               map_label(self.attributor, {**averaging, **own}), label)


@dataclass(frozen=True)
class ResolvedSetting:
    """A setting with its options split: what the study computes for it."""

    setting: Setting
    map_options: dict[str, Any]
    """The averaging options, every one (defaults included)."""
    attributor_options: dict[str, Any]
    """The attributor's own options (``attributor_options`` and those routed from ``options``)."""
    localiser_options: dict[str, Any]
    map_label: str
    """The ``method`` of its records: the attributor and the map options that differ from the defaults."""
    localiser_label: str | None
    """The ``localiser`` of its box records (``None``: maps only)."""


def _labelled(name: str, options: Mapping[str, Any]) -> str:
    if not options:
        return name
    return f"{name}[{','.join(f'{k}={v!r}' for k, v in sorted(options.items()))}]"


def map_label(attributor: str, map_options: Mapping[str, Any]) -> str:
    """``"saliency"``, ``"saliency[ten_crop=True]"``, ``"saliency[smoothgrad=8]"``: the map's key.

    Averaging options at their defaults are left out, and ``noise`` without SmoothGrad or VarGrad (it has
    no effect); a method's own options are always named.
    """
    full = {**MAP_DEFAULTS, **map_options}
    scales = full["scales"]
    full["scales"] = tuple(float(s) for s in (scales if isinstance(scales, (list, tuple)) else (scales,)))
    differ = {k: v for k, v in full.items() if k not in MAP_DEFAULTS or v != MAP_DEFAULTS[k]}
    if not (full["smoothgrad"] or full["vargrad"]):
        differ.pop("noise", None)
    return _labelled(attributor, differ)


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
    Setting("paper + 10-crop", preset="paper", options={"ten_crop": True}),
    Setting("paper + box of all foreground", preset="paper", options={"component": "all"}),
    Setting("paper + blur 0.05", preset="paper", options={"blur": 0.05}),
    Setting("paper + probable seeds", preset="paper", options={"sure_seeds": False}),
    Setting("paper + DeconvNet maps", preset="paper", attributor="deconvnet"),
]

_NAMED = {"standard": STANDARD, "ablation": ABLATION}


def named_settings(name: str) -> list[Setting]:
    """``"standard"`` or ``"ablation"``; ``KeyError`` naming the known lists otherwise."""
    if name not in _NAMED:
        raise KeyError(f"unknown settings {name!r}; known: {', '.join(sorted(_NAMED))}")
    return list(_NAMED[name])
