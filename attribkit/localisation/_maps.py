"""From a photo to class saliency maps: the model's crop, the target classes, the (averaged) attribution,
and the way back onto the photo's own pixels.

:func:`saliency` is the one path from a photo to maps (``localise``, the command line and the demo take
it); :func:`crop_maps` is its batched inner step, for many photos at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from attribkit._core.guards import model_device
from attribkit._core.interfaces import Attributor
from attribkit._core.reprs import array_summary
from attribkit._core.scored import attribute_scored
from attribkit._core.targets import needs_scores
from attribkit.attribution import saliency_map
from attribkit.data._image import Geometry, ImageSource, LoadedImage, load_image
from attribkit.errors import OptionError, TargetError
from attribkit.localisation._recipe import Recipe, ResolvedRecipe
from attribkit.models._info import model_info


@dataclass(frozen=True, repr=False)
class SaliencyMaps:
    """Saliency maps of K classes of one photo, on the model's input crop and on the photo itself.

    Attributes
    ----------
    labels
        The K class indices, in the order asked (``top_k``: best first).
    names
        Their class names (the index as text where the model has no name for it).
    scores
        Their softmax probabilities for the photo.
    maps
        ``[K, crop, crop]`` float32: ``max_c |attribution|`` on the model's input crop.
    photo_maps
        ``[K, H, W]`` float32 on the photo's own pixels (see :func:`photo_saliency`), NaN where the model's
        crop did not reach.
    image
        The photo as loaded for the model.
    """

    labels: list[int]
    names: list[str]
    scores: list[float]
    maps: np.ndarray
    photo_maps: np.ndarray
    image: LoadedImage

    def __repr__(self) -> str:
        scores = ", ".join(f"{s:.3g}" for s in self.scores)
        return (
            f"SaliencyMaps(labels={self.labels}, names={self.names}, scores=[{scores}], "
            f"maps={array_summary(self.maps)}, photo_maps={array_summary(self.photo_maps)}, "
            f"image={self.image.source!r})"
        )

    def _repr_png_(self) -> bytes:
        """A notebook's picture: the model's input crop and each class's map (small: see
        :mod:`attribkit.render`'s notebook pictures)."""
        from attribkit.localisation._display import saliency_tiles
        from attribkit.render._notebook import tiles_png

        tiles, note = saliency_tiles(self)
        return tiles_png(tiles, note=note)

    def _repr_html_(self) -> str:
        """The same picture as HTML, class names as (escaped) text."""
        from attribkit.localisation._display import saliency_tiles
        from attribkit.render._notebook import tiles_html

        tiles, note = saliency_tiles(self)
        return tiles_html(tiles, title=f"SaliencyMaps of {self.image.source}", note=note)


def crop_maps(attributor: Attributor, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Saliency maps of K classes for each of B inputs, in one call of the attributor.

    Parameters
    ----------
    attributor
        Any attributor (averaging wrappers included; one channel, as Grad-CAM's, is fine).
    inputs
        ``[B, C, H, W]`` in the model's input space.
    targets
        ``[B, K]`` class indices (ints; see :func:`attribkit.resolve_targets` for other spellings).

    Returns
    -------
    torch.Tensor
        ``[B, K, H, W]`` float32, ``max_c |a|`` of the attribution (paper section 3), detached.
    """
    index = torch.as_tensor(targets)
    if index.ndim != 2:
        raise TargetError(f"crop_maps needs targets [B, K]; got shape {tuple(index.shape)}")
    return saliency_map(attributor.attribute(inputs, target=index).detach()).float()


def saliency(
    model: torch.nn.Module,
    image: ImageSource | LoadedImage,
    *,
    target: Any = None,
    top_k: int | None = None,
    method: str | Attributor | None = None,
    recipe: Recipe | None = None,
    **options: Any,
) -> SaliencyMaps:
    """Saliency maps of a photo's classes (paper section 3), on the model's crop and on the photo.

    The model runs forward once for the classes and the attribution together where the attributor can
    say its scores (every built-in one and the averaging wrappers: see
    :func:`attribkit.attribution.attribute_scored`); a third-party attributor costs one more forward.

    Parameters
    ----------
    model
        The classifier (its :func:`~attribkit.model_info` says how to preprocess and names the classes).
    image
        A path, an ``[H, W, 3]`` uint8 array, a PIL image, or a :class:`~attribkit.LoadedImage`.
    target
        A class (index, name, or WordNet id such as ``"n02124075"`` for an ImageNet model) or a list of
        them: the classes to explain. Default: the model's top-1.
    top_k
        Explain the model's K highest-scoring classes instead.
    method
        A registered attributor's name (``attribkit.list_attributors()``) or an attributor object
        (default ``"saliency"``).
    recipe
        Instead of ``method`` and ``**options``: a :class:`~attribkit.Recipe` (its attributor and
        averaging; its localiser is not used). Without one, the recipe is ``Recipe(attributor=method,
        localiser=None, preset=None, options=options)``: the method's plain map and the averaging asked for.
        Note that ``Recipe()`` itself is the ``"default"`` preset, whose attributor is Grad-CAM: give
        ``Recipe(attributor="saliency", preset=None)`` for the paper's gradient.
    **options
        Averaging options for any method (``ten_crop``, ``crop_fraction``, ``smoothgrad``, ``vargrad``,
        ``noise``, ``scales``; see :class:`attribkit.attribution.AveragingOptions`) and, for a method
        given by name, the method's own options.

    Returns
    -------
    SaliencyMaps
        ``labels``, ``names``, ``scores`` and the ``[K, ...]`` maps on the crop and on the photo.

    Raises
    ------
    TargetError
        A class the model does not have (close names suggested), or both ``target`` and ``top_k``.
    OptionError
        An option neither the averaging nor the method takes (close names suggested), one of the wrong
        type or out of its range, or a ``recipe`` together with ``method`` or options.
    UnknownMethodError
        No attributor of that name.

    Example
    -------
    >>> maps = attribkit.saliency(model, "cat.jpg", top_k=5, ten_crop=True)   # doctest: +SKIP
    >>> maps.names[0], maps.photo_maps.shape                                 # doctest: +SKIP
    ('tiger cat', (300, 451))
    """
    if recipe is None:
        recipe = Recipe(attributor=method or "saliency", localiser=None, preset=None, options=options)
    elif method is not None or options:
        raise OptionError("give a recipe, or a method and its options, not both")
    loaded = image if isinstance(image, LoadedImage) else load_image(image, model)
    return recipe_saliency(model, loaded, recipe.resolve(), target=target, top_k=top_k)


def recipe_saliency(
    model: torch.nn.Module, image: LoadedImage, resolved: ResolvedRecipe, *, target: Any = None,
    top_k: int | None = None,
) -> SaliencyMaps:
    """:func:`saliency` of a resolved recipe (what :func:`~attribkit.localise` calls)."""
    attributor = resolved.attributor_for(model)
    x = image.tensor.to(model_device(model))
    info = model_info(model)
    asked = _one_photo(target)
    if asked is not None and top_k is not None:
        raise TargetError("give either target or top_k, not both")
    if not needs_scores(asked, top_k):
        # Names and WordNet ids become indices here (the attributor knows no class names); None and
        # top_k are left to the attributor, which resolves them from its own forward pass.
        asked = info.targets(asked, batch=1).index.to(x.device)
    scored = attribute_scored(attributor, x, asked, top_k=top_k)
    maps = saliency_map(scored.attributions.detach()).float()[0].cpu().numpy().astype(np.float32)
    probabilities = scored.scores.float().softmax(-1)
    labels = [int(c) for c in scored.targets.index[0].tolist()]
    names = [info.class_names[c] if 0 <= c < len(info.class_names) else str(c) for c in labels]
    photo = np.stack([photo_saliency(m, image.geometry) for m in maps])
    return SaliencyMaps(labels, names, [float(probabilities[0, c]) for c in labels], maps, photo, image)


def _one_photo(target: Any) -> Any:
    """A flat list of classes means K classes of the one photo: ``[a, b]`` → ``[[a, b]]``."""
    if isinstance(target, (list, tuple)) and not any(isinstance(t, (list, tuple)) for t in target):
        return [list(target)]
    if isinstance(target, (torch.Tensor, np.ndarray)) and target.ndim == 1:
        return torch.as_tensor(target).reshape(1, -1)
    return target


def photo_saliency(crop_map: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A map over the model's input crop → the photo's pixel grid (NaN outside the crop's view).

    Each photo pixel samples the crop map at its own centre through the exact resize-and-crop geometry.
    """
    sx = geometry.resized_width / geometry.width
    sy = geometry.resized_height / geometry.height
    # Photo pixel centre (x + 0.5) lands on resized (x + 0.5) * s, i.e. crop pixel index that - 0.5 - left.
    to_crop = np.array([[sx, 0.0, 0.5 * sx - 0.5 - geometry.left],
                        [0.0, sy, 0.5 * sy - 0.5 - geometry.top]], dtype=np.float64)
    size = (geometry.width, geometry.height)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    values = cv2.warpAffine(np.asarray(crop_map, dtype=np.float32), to_crop, size, flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones(np.shape(crop_map), dtype=np.float32), to_crop, size,
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0.0)
    return np.where(inside > 0.5, values, np.nan).astype(np.float32)
