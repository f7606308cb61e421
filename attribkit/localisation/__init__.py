"""Localisation (paper section 4): photo → class maps (:func:`saliency`) → localiser → boxes, what to
compute as one :class:`Recipe`, and the kit localisers use.

The kit (:func:`photo_map`, :func:`smooth`, :func:`resize_known`, :func:`is_flat`, :func:`whole_image`,
:func:`mask_box`, :func:`largest_component`) is what a third-party localiser needs to read a map the way
the built-in ones do.
"""

from attribkit._core.boxes import box_mask, largest_component, mask_box
from attribkit.localisation._kit import is_flat, photo_map, resize_known, smooth, whole_image
from attribkit.localisation._maps import SaliencyMaps, crop_maps, photo_saliency, saliency
from attribkit.localisation._pipeline import LocalisedClass, LocalisedClasses, localise
from attribkit.localisation._presets import MAP_PRESETS, NO_PRESET, PIPELINES, Pipeline, pipeline
from attribkit.localisation._recipe import Recipe, ResolvedRecipe

__all__ = [
    "MAP_PRESETS",
    "NO_PRESET",
    "PIPELINES",
    "LocalisedClass",
    "LocalisedClasses",
    "Pipeline",
    "Recipe",
    "ResolvedRecipe",
    "SaliencyMaps",
    "box_mask",
    "crop_maps",
    "is_flat",
    "largest_component",
    "localise",
    "mask_box",
    "photo_map",
    "photo_saliency",
    "pipeline",
    "resize_known",
    "saliency",
    "smooth",
    "whole_image",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.localisation", globals(), __all__)
