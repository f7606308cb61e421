"""Saliency maps as localisers receive them: checked, resized to the photo, optionally smoothed.

A map may hold NaN for "unknown" pixels (the pipeline marks the parts of a photo the model never saw
that way); localisers take no seeds there and treat them as cold.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from attribkit._core.interfaces import Localisation
from attribkit.errors import ImageError, InputError, OptionError


def photo_map(image: np.ndarray, saliency: np.ndarray | torch.Tensor) -> np.ndarray:
    """Check ``image`` (``[H, W, 3]`` uint8) and bring ``saliency`` to ``[H, W]`` float32 (bilinear).

    Raises
    ------
    ImageError
        A non-RGB image.
    InputError
        A map that is not 2-D, an empty map, or infinite values (each is also a ``ValueError``).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"image must be a non-empty [H, W, 3] RGB array; got shape {image.shape}")
    if isinstance(saliency, torch.Tensor):
        saliency = saliency.detach().cpu().numpy()
    m = np.asarray(saliency, dtype=np.float32)
    if m.ndim != 2:
        raise InputError(f"saliency must be a 2-D map [h, w]; got shape {m.shape}")
    if m.size == 0:
        raise InputError("saliency map is empty")
    if np.isinf(m).any():
        raise InputError("saliency map contains infinite values")
    height, width = image.shape[:2]
    return resize_known(m, height, width, cv2.INTER_LINEAR)


def resize_known(saliency: np.ndarray, height: int, width: int, interpolation: int) -> np.ndarray:
    """Resize a map that may hold NaN: what is known and where it is known are resized separately, so
    NaN does not bleed into known pixels; a pixel stays known when most of its source was."""
    if saliency.shape == (height, width):
        return saliency
    known = np.isfinite(saliency)
    filled = cv2.resize(np.where(known, saliency, 0).astype(np.float32), (width, height), interpolation=interpolation)
    if known.all():
        return filled
    cover = cv2.resize(known.astype(np.float32), (width, height), interpolation=interpolation)
    return np.where(cover > 0.5, filled / np.maximum(cover, 1e-6), np.nan).astype(np.float32)


def smooth(saliency: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with ``sigma`` given as a fraction of the map's shorter side (``0`` = none).

    The saliency of a single pixel is noisy (the paper's maps are speckled); blurring turns it into the
    saliency of a neighbourhood, which is what a colour model of the object needs. NaN stays NaN.
    """
    if sigma < 0:
        raise OptionError(f"blur must be >= 0; got {sigma}")
    if sigma == 0:
        return saliency
    s = float(sigma) * min(saliency.shape)
    known = np.isfinite(saliency)
    blurred = cv2.GaussianBlur(np.where(known, saliency, 0).astype(np.float32), (0, 0), s)
    if known.all():
        return blurred
    weight = cv2.GaussianBlur(known.astype(np.float32), (0, 0), s)
    return np.where(known, blurred / np.maximum(weight, 1e-6), np.nan).astype(np.float32)


def is_flat(saliency: np.ndarray) -> bool:
    """True when the map carries no information: no known pixel, or all known pixels equal."""
    known = saliency[np.isfinite(saliency)]
    return known.size == 0 or bool(known.max() == known.min())


def whole_image(height: int, width: int, reason: str = "flat map") -> Localisation:
    """The documented fallback when a map has nothing to say: the whole image, with ``reason`` as its
    :attr:`~attribkit.Localisation.fallback`."""
    return Localisation(np.ones((height, width), dtype=bool), (0, 0, width, height), reason)
