"""One call from a photo to boxes: class saliency → map on the photo → localiser (paper section 4).

:func:`localise` is what the ``attribkit localise`` and ``attribkit evaluate`` commands run. Its stages
are public so studies can cache the expensive one (:func:`class_saliency`) and vary the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from attribkit._gradient import saliency_map
from attribkit._image import Geometry, ImageSource, LoadedImage, load_image
from attribkit._interfaces import Attributor, Box, Localiser
from attribkit._registry import create_attributor, create_localiser
from attribkit.models._info import model_info

#: Options of :func:`class_saliency` (everything else given to :func:`localise` goes to the localiser).
MAP_OPTIONS = ("ten_crop", "smoothgrad", "noise", "scales")


@dataclass(frozen=True)
class Preset:
    """Named settings: map options, and options for each localiser they apply to."""

    maps: dict[str, Any]
    localisers: dict[str, dict[str, Any]]


PRESETS: dict[str, Preset] = {
    # The paper read literally: one plain gradient at the model's input size, GrabCut's energy with sure
    # seeds at the 95% / 30% quantiles, one cut at full resolution, the largest component's box.
    "paper": Preset(
        maps={"ten_crop": False, "smoothgrad": 0, "scales": (1.0,)},
        localisers={"graphcut": {
            "foreground_quantile": 0.95, "background_quantile": 0.30, "components": 5, "smoothness": 50.0,
            "iterations": 1, "sure_seeds": True, "work_size": None, "blur": 0.0, "component": "largest",
        }},
    ),
    # Measured on the 80 hand-boxed ImageNet dev photos (docs/localisation.md), each choice helping or
    # equal on both halves: 10-crop maps (the paper's own averaging); a box around all foreground, not
    # the largest piece (ImageNet boxes are large and objects come apart under a speckled map); fewer
    # sure-background seeds (15%) and a stronger pairwise term (150) so the object's uncertain parts
    # join it. No full-resolution band re-cut: on these photos it moved 19 of 80 boxes by < 0.01 IoU
    # on average (three flipped across IoU 0.5, net one photo fewer) for 60% more localiser time; it is
    # for sharp-edged objects, where it makes the box pixel-exact. GraphCut's own defaults stay the paper's.
    "default": Preset(
        maps={"ten_crop": True},
        localisers={"graphcut": {"component": "all", "background_quantile": 0.15, "smoothness": 150.0,
                                 "refine": False}},
    ),
}


@dataclass(frozen=True)
class ClassMaps:
    """Saliency maps of K classes for one image, in the model's input-crop pixels."""

    labels: list[int]
    scores: list[float]
    """Softmax probabilities of the classes."""
    maps: np.ndarray
    """``[K, crop, crop]`` float32."""


@dataclass(frozen=True)
class LocalisedClass:
    """The answer for one class of one photo (all in the photo's own pixels)."""

    label: int
    """Class index."""
    name: str
    score: float
    """Softmax probability of the class."""
    box: Box | None
    mask: np.ndarray
    """Boolean ``[H, W]`` foreground."""
    saliency: np.ndarray
    """The class saliency map on the photo, ``[H, W]`` float32, NaN where the model's crop did not reach."""


def _targets(model: torch.nn.Module, scores: torch.Tensor, target: Any, top_k: int | None) -> list[int]:
    if target is not None and top_k is not None:
        raise ValueError("give target or top_k, not both")
    if target is not None:
        items = target if isinstance(target, (list, tuple)) else [target]
        return [model_info(model).class_index(t) if isinstance(t, str) else int(t) for t in items]
    k = 1 if top_k is None else int(top_k)
    if not 1 <= k <= scores.shape[-1]:
        raise ValueError(f"top_k must be in [1, {scores.shape[-1]}]; got {top_k}")
    return scores[0].topk(k).indices.tolist()


def _maps(attributor: Attributor, x: torch.Tensor, labels: list[int], smoothgrad: int, noise: float) -> torch.Tensor:
    """``[K, H, W]`` maps for the classes; SmoothGrad averages the gradients of noisy copies first."""
    target = torch.tensor([labels], device=x.device)
    if smoothgrad <= 0:
        return saliency_map(attributor.attribute(x, target=target))[0]
    sigma = noise * float(x.max() - x.min())
    total = None
    done = 0
    generator = torch.Generator(device="cpu").manual_seed(0)  # the same noise every call: reproducible maps
    while done < smoothgrad:
        n = min(8, smoothgrad - done)
        noisy = x + sigma * torch.randn((n, *x.shape[1:]), generator=generator).to(x)
        grads = attributor.attribute(noisy, target=target.expand(n, -1)).sum(0)
        total = grads if total is None else total + grads
        done += n
    assert total is not None
    return saliency_map(total / smoothgrad)


def _attributor(attributor: str | Attributor, model: torch.nn.Module, ten_crop: bool) -> Attributor:
    if not isinstance(attributor, str):
        return attributor
    try:
        return create_attributor(attributor, model, **({"ten_crop": True} if ten_crop else {}))
    except TypeError as exc:
        if not ten_crop:
            raise
        raise ValueError(
            f"attributor {attributor!r} does not average 10 crops itself ({exc}); pass ten_crop=False "
            "(on the command line: --option ten_crop=false)"
        ) from exc


def class_saliency(
    model: torch.nn.Module,
    image: LoadedImage,
    *,
    target: Any = None,
    top_k: int | None = None,
    attributor: str | Attributor = "saliency",
    ten_crop: bool = False,
    smoothgrad: int = 0,
    noise: float = 0.15,
    scales: Sequence[float] = (1.0,),
) -> ClassMaps:
    """Saliency maps of the target classes (or the top-k) in the model's input crop.

    Parameters
    ----------
    attributor
        A registered attributor's name (built with ``ten_crop``) or an attributor object.
    ten_crop
        Average over the paper's 10 crops and flips.
    smoothgrad
        Average the gradients of this many noisy copies (SmoothGrad, Smilkov et al. 2017; 0 = off).
    noise
        SmoothGrad's noise level, as a fraction of the input's value range.
    scales
        Input sizes relative to the crop; each scale's maps are resized back, scaled to mean 1 so every
        scale counts the same, and averaged.
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = image.tensor.to(device)
    with torch.no_grad():
        scores = model(x).float().softmax(-1)
    labels = _targets(model, scores, target, top_k)
    explainer = _attributor(attributor, model, ten_crop)
    size = x.shape[-2:]
    total = torch.zeros((len(labels), *size), device=device)
    for s in scales:
        if s <= 0:
            raise ValueError(f"scales must be positive; got {s}")
        xs = x if s == 1.0 else F.interpolate(x, scale_factor=float(s), mode="bilinear", align_corners=False)
        m = _maps(explainer, xs, labels, smoothgrad, noise).float()
        if m.shape[-2:] != size:
            m = F.interpolate(m[None], size=tuple(size), mode="bilinear", align_corners=False)[0]
        if len(scales) > 1:
            m = m / m.mean(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
        total += m
    maps = (total / len(scales)).detach().cpu().numpy().astype(np.float32)
    return ClassMaps(labels, [float(scores[0, c]) for c in labels], maps)


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


def resolve_options(preset: str | None, localiser: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(map options, localiser options)`` from a preset name and explicit options (which win)."""
    if preset is None:
        preset = "default"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    chosen = PRESETS[preset]
    maps = {**chosen.maps, **{k: v for k, v in options.items() if k in MAP_OPTIONS}}
    loc = {**chosen.localisers.get(localiser, {}), **{k: v for k, v in options.items() if k not in MAP_OPTIONS}}
    return maps, loc


def localise(
    model: torch.nn.Module,
    image: ImageSource | LoadedImage,
    *,
    target: Any = None,
    top_k: int | None = None,
    attributor: str | Attributor = "saliency",
    localiser: str | Localiser = "graphcut",
    preset: str | None = "default",
    **options: Any,
) -> list[LocalisedClass]:
    """Boxes of the target class (or each of the model's top-k classes) in a photo.

    Parameters
    ----------
    model
        The classifier (its :func:`~attribkit.model_info` says how to preprocess).
    image
        A path, an ``[H, W, 3]`` uint8 array, a PIL image, or a :class:`~attribkit.LoadedImage`.
    target
        A class index or name, or a list of them (default: the model's top-1).
    top_k
        Localise each of the model's K highest-scoring classes (the paper's top-5 protocol: K=5).
    attributor
        A registered attributor (``"saliency"``, ``"deconvnet"``, ...) or an attributor object.
    localiser
        A registered localiser (``"graphcut"``, ``"threshold"``, ``"centre"``) or a localiser object.
    preset
        ``"default"`` (the measured best) or ``"paper"`` (the paper read literally); explicit
        ``options`` override it.
    **options
        Map options (``ten_crop``, ``smoothgrad``, ``noise``, ``scales``; see :func:`class_saliency`)
        and the localiser's own options.

    Returns
    -------
    list[LocalisedClass]
        One per class, in the order asked (top-k: by score), with box and mask in the photo's pixels.

    Example
    -------
    >>> model = attribkit.load_model()                                   # doctest: +SKIP
    >>> [r.box for r in attribkit.localise(model, "cat.jpg", top_k=5)]    # doctest: +SKIP
    """
    loaded = image if isinstance(image, LoadedImage) else load_image(image, model)
    map_options, localiser_options = resolve_options(preset, localiser if isinstance(localiser, str) else "",
                                                     options)
    if isinstance(localiser, str):
        chosen = create_localiser(localiser, **localiser_options)
    elif localiser_options:
        raise TypeError(f"options {sorted(localiser_options)} need a localiser name, not an object")
    else:
        chosen = localiser
    maps = class_saliency(model, loaded, target=target, top_k=top_k, attributor=attributor, **map_options)
    return localise_maps(model, loaded, maps, chosen)


def localise_maps(
    model: torch.nn.Module, image: LoadedImage, maps: ClassMaps, localiser: Localiser
) -> list[LocalisedClass]:
    """The second stage of :func:`localise`: each class's map onto the photo, then the localiser."""
    names = model_info(model).class_names
    out = []
    for label, score, crop_map in zip(maps.labels, maps.scores, maps.maps):
        on_photo = photo_saliency(crop_map, image.geometry)
        found = localiser.localise(image.rgb, on_photo)
        name = names[label] if 0 <= label < len(names) else str(label)
        out.append(LocalisedClass(label, name, score, found.box, np.asarray(found.mask, dtype=bool), on_photo))
    return out
