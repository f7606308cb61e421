"""The gallery's pictures: photo with ground truth, each method's map (on the model's input crop), each
localiser's mask and box (on the photo).

Plain PIL (no matplotlib figure per picture): a study writes many of them while it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from attribkit._core.interfaces import Box
from attribkit.render import slug

GALLERY_DIR = "gallery"
TRUTH, FOUND = (40, 220, 60), (235, 40, 40)


def gallery_path(out: Path, image: str, *parts: str) -> Path:
    return Path(out) / GALLERY_DIR / ("__".join([slug(image), *map(slug, parts)]) + ".png")


def _draw_boxes(rgb: np.ndarray, boxes: Sequence[Sequence[float]], colour: tuple[int, int, int]) -> Image.Image:
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    width = max(2, rgb.shape[1] // 112)
    for x0, y0, x1, y1 in boxes:
        # A Box's x1, y1 are exclusive; PIL's rectangle corners are inclusive pixels.
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
    return img


def save_photo(path: Path, crop: np.ndarray, truth: Sequence[Sequence[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _draw_boxes(crop, truth, TRUTH).save(path)


def save_map(path: Path, crop: np.ndarray, saliency: np.ndarray) -> None:
    from attribkit.render import overlay

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(crop, saliency)).save(path)


def save_localisation(
    path: Path, crop: np.ndarray, mask: np.ndarray, box: Box | None, truth: Sequence[Sequence[float]]
) -> None:
    """The photo dimmed outside the mask, the found box in red and the ground truth in green."""
    shown = np.where(mask[..., None], crop, (crop * 0.35).astype(np.uint8))
    img = _draw_boxes(shown, truth, TRUTH)
    if box is not None:
        img = _draw_boxes(np.asarray(img), [box], FOUND)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
