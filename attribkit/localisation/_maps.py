"""From a photo to class saliency maps: the model's crop, the target classes, averaging, and the way back
onto the photo's own pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from attribkit._core.interfaces import Attributor
from attribkit._core.registry import create_attributor
from attribkit.attribution import saliency_map
from attribkit.data._image import Geometry, LoadedImage
from attribkit.models._info import model_info


@dataclass(frozen=True)
class ClassMaps:
    """Saliency maps of K classes for one image, in the model's input-crop pixels."""

    labels: list[int]
    scores: list[float]
    """Softmax probabilities of the classes."""
    maps: np.ndarray
    """``[K, crop, crop]`` float32."""


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
