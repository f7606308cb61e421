"""One call from a photo to boxes: class saliency → map on the photo → localiser (paper section 4).

:func:`localise` is what the ``attribkit localise`` command runs. Its first stage is
:func:`~attribkit.saliency` (the expensive one); the study runner (and ``attribkit evaluate``, a report
over its records) calls the same two stages, batched over photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attribkit._core.interfaces import Attributor, Box, Localiser
from attribkit._core.reprs import array_summary
from attribkit.data._image import ImageSource, LoadedImage, load_image
from attribkit.errors import OptionError
from attribkit.localisation._maps import SaliencyMaps, recipe_saliency
from attribkit.localisation._recipe import Recipe


@dataclass(frozen=True, repr=False)
class LocalisedClass:
    """The answer for one class of one photo: the box in the photo's own pixels, the mask and the map on
    its kept copy (:attr:`LoadedImage.rgb <attribkit.LoadedImage>`: the photo itself up to
    :data:`~attribkit.MAX_PHOTO_PIXELS`)."""

    label: int
    """Class index."""
    name: str
    score: float
    """Softmax probability of the class."""
    box: Box | None
    """In the photo file's own pixels (``Geometry.from_source`` maps it onto the kept copy)."""
    mask: np.ndarray
    """Boolean ``[H, W]`` foreground, ``H`` × ``W`` the kept copy's size."""
    saliency: np.ndarray
    """The class saliency map on the kept copy, ``[H, W]`` float32, NaN where the model's crop did not reach."""
    fallback: str | None = None
    """Why the localiser gave its documented fallback instead of a cut (:attr:`~attribkit.Localisation.fallback`:
    ``"flat map"``, ``"no seeds"``, ``"empty cut: ..."``); ``None`` when it localised as designed."""

    def __repr__(self) -> str:
        share = f"{float(np.mean(self.mask)):.0%}" if np.size(self.mask) else "0%"
        fallback = "" if self.fallback is None else f", fallback={self.fallback!r}"
        return (f"LocalisedClass(label={self.label}, name={self.name!r}, score={self.score:.3g}, box={self.box}, "
                f"mask={array_summary(self.mask)} ({share} foreground), saliency={array_summary(self.saliency)}"
                f"{fallback})")


class LocalisedClasses(list):  # type: ignore[type-arg]
    """What :func:`~attribkit.localise` returns: a plain ``list`` of :class:`LocalisedClass` (index it,
    iterate it, compare it with a list) that also keeps the photo, so that a notebook shows it as a picture
    (every class's box on the photo, the top class's mask and map), as ``attribkit localise`` draws it.

    Slices, copies and sums are plain lists (``list`` makes them); ``image`` is only on the list
    :func:`~attribkit.localise` returned.
    """

    def __init__(self, results: Sequence[LocalisedClass] = (), image: LoadedImage | None = None) -> None:
        super().__init__(results)
        self.image = image
        """The photo as loaded for the model (:class:`~attribkit.LoadedImage`); ``None`` when not known."""

    def _tiles(self):  # type: ignore[no-untyped-def]
        from attribkit.localisation._display import localised_tiles

        if self.image is None:
            return None
        return localised_tiles(self.image, self)

    def _repr_png_(self) -> bytes | None:
        """A notebook's picture (``None``, i.e. text only, without the photo)."""
        from attribkit.render._notebook import tiles_png

        made = self._tiles()
        return None if made is None else tiles_png(made[0], note=made[1])

    def _repr_html_(self) -> str | None:
        """The same picture as HTML, class names and the photo's name as (escaped) text."""
        from attribkit.render._notebook import tiles_html

        made = self._tiles()
        if made is None:
            return None
        return tiles_html(made[0], title=f"{len(self)} classes localised in {self.image.source}", note=made[1])


def localise(
    model: torch.nn.Module,
    image: ImageSource | LoadedImage,
    *,
    target: Any = None,
    top_k: int | None = None,
    recipe: Recipe | None = None,
    attributor: str | Attributor | None = None,
    localiser: str | Localiser | None = None,
    preset: str | None = "default",
    attributor_options: dict[str, Any] | None = None,
    localiser_options: dict[str, Any] | None = None,
    **options: Any,
) -> LocalisedClasses:
    """Boxes of the target class (or each of the model's top-k classes) in a photo.

    Parameters
    ----------
    model
        The classifier (its :func:`~attribkit.model_info` says how to preprocess).
    image
        A path, an ``[H, W, 3]`` uint8 array, a PIL image, or a :class:`~attribkit.LoadedImage`.
    target
        A class index, name or WordNet id, or a list of them (default: the model's top-1).
    top_k
        Localise each of the model's K highest-scoring classes (the paper's top-5 protocol: K=5).
    recipe
        What to compute, as one :class:`~attribkit.Recipe` (resolved once, however many photos it is used
        for), instead of the keywords below, which build one: ``Recipe(attributor=attributor,
        localiser=localiser, preset=preset, options=options, ...)``.
    attributor
        A registered attributor (``"saliency"``, ``"gradcam"``, ``"deconvnet"``, ...) or an attributor
        object; the preset's averaging wraps any of them. Default: the preset's
        (:data:`~attribkit.localisation.PIPELINES`: ``gradcam`` for ``"default"``, ``saliency`` for
        ``"gradient"`` and ``"paper"``).
    localiser
        A registered localiser (``"graphcut"``, ``"threshold"``, ``"centre"``) or a localiser object.
        Default: the preset's.
    preset
        ``"default"`` (the best pipeline measured out of sample), ``"gradient"`` (the best with the
        paper's gradient maps), ``"paper"`` (the paper read literally), another preset the localiser
        registers, or ``None`` (no preset: plain maps, the localiser's own defaults, and ``saliency`` +
        ``graphcut`` where none is named); explicit options override it.
    attributor_options, localiser_options
        Options for one side only, unexamined: for a name both sides take (``seed``).
    **options
        Averaging options (``ten_crop``, ``crop_fraction``, ``smoothgrad``, ``vargrad``, ``noise``,
        ``scales``; see :func:`~attribkit.saliency`), the attributor's own declared options and the
        localiser's own options (each goes where it is known; see ``attribkit plugins``).

    Returns
    -------
    LocalisedClasses
        A ``list`` of :class:`LocalisedClass`, one per class, in the order asked (top-k: by score), with
        box and mask in the photo's pixels; a notebook shows it as a picture.

    Raises
    ------
    OptionError
        A name both sides take, or none (close names suggested), in ``**options``; a value of the wrong
        type or out of range; options for an object; a recipe together with the keywords; a recipe
        without a localiser.
    UnknownMethodError
        An attributor or localiser nobody registered.
    TargetError
        A class the model does not have, or both ``target`` and ``top_k``.

    Example
    -------
    >>> model = attribkit.load_model()                                   # doctest: +SKIP
    >>> [r.box for r in attribkit.localise(model, "cat.jpg", top_k=5)]    # doctest: +SKIP
    """
    if recipe is None:
        recipe = Recipe(attributor=attributor or "", localiser=localiser or "", preset=preset,
                        options=options, attributor_options=attributor_options or {},
                        localiser_options=localiser_options or {})
    elif (attributor is not None or localiser is not None or preset != "default" or options
          or attributor_options or localiser_options):
        raise OptionError("give a recipe, or the attributor, localiser, preset and options, not both")
    resolved = recipe.resolve()
    if resolved.localiser is None:
        raise OptionError(f"recipe {recipe.name!r} has no localiser (localiser=None: maps only); "
                          "localise needs one")
    loaded = image if isinstance(image, LoadedImage) else load_image(image, model)
    maps = recipe_saliency(model, loaded, resolved, target=target, top_k=top_k)
    return localise_maps(model, loaded, maps, resolved.localiser)


def localise_maps(
    model: torch.nn.Module, image: LoadedImage, maps: SaliencyMaps, localiser: Localiser
) -> LocalisedClasses:
    """The second stage of :func:`localise`: the localiser on each class's map on the photo (its kept
    copy: see :data:`~attribkit.MAX_PHOTO_PIXELS`), each box mapped to the photo's own pixels."""
    out = []
    for label, name, score, on_photo in zip(maps.labels, maps.names, maps.scores, maps.photo_maps):
        found = localiser.localise(image.rgb, on_photo)
        box = None if found.box is None else image.geometry.to_source(found.box)
        out.append(LocalisedClass(label, name, score, box, np.asarray(found.mask, dtype=bool), on_photo,
                                  found.fallback))
    return LocalisedClasses(out, image)
