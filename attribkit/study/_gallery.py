"""The gallery's pictures: photo with ground truth, each method's map (on the model's input crop), each
localiser's mask and box (on the photo).

Plain PIL (no matplotlib figure per picture): a study writes many of them while it runs. Each picture is
written to a temporary file and moved into place (``os.replace``), so a study killed mid-write leaves the
old picture or none, never a torn one; :func:`complete` tells a finished PNG from one left by an older,
non-atomic write, so a resumed study makes it again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from attribkit._core.interfaces import Box
from attribkit.render import file_name
from attribkit.study._atomic import replacing

GALLERY_DIR = "gallery"
TRUTH, FOUND = (40, 220, 60), (235, 40, 40)


def gallery_path(out: Path, image: str, *parts: str) -> Path:
    """``gallery/<image>__<method>[__<localiser>].png``: distinct for distinct names (:func:`file_name`)."""
    return Path(out) / GALLERY_DIR / ("__".join([file_name(image), *map(file_name, parts)]) + ".png")


#: The last 12 bytes of every PNG: the empty IEND chunk and its CRC.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def complete(path: Path) -> bool:
    """Whether ``path`` is a PNG written to its end (not missing, empty or torn)."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
            f.seek(-len(_PNG_END), os.SEEK_END)
            return f.read() == _PNG_END
    except OSError:  # missing, or shorter than the end chunk
        return False


def _save(img: Image.Image, path: Path) -> None:
    """Write a PNG atomically (:func:`~attribkit.study._atomic.replacing`)."""
    with replacing(path) as temporary:
        img.save(temporary, format="PNG")


def _draw_boxes(rgb: np.ndarray, boxes: Sequence[Sequence[float]], colour: tuple[int, int, int]) -> Image.Image:
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    width = max(2, rgb.shape[1] // 112)
    for x0, y0, x1, y1 in boxes:
        # A Box's x1, y1 are exclusive; PIL's rectangle corners are inclusive pixels.
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
    return img


def save_photo(path: Path, crop: np.ndarray, truth: Sequence[Sequence[float]]) -> None:
    _save(_draw_boxes(crop, truth, TRUTH), path)


def save_map(path: Path, crop: np.ndarray, saliency: np.ndarray) -> None:
    """The map over the photo, display-blurred as the CLI's panels are (a raw gradient map's speckle is
    invisible at gallery size)."""
    from attribkit.render import OVERLAY_BLUR, overlay

    _save(Image.fromarray(overlay(crop, saliency, blur=OVERLAY_BLUR)), path)


def save_localisation(
    path: Path, crop: np.ndarray, mask: np.ndarray, box: Box | None, truth: Sequence[Sequence[float]]
) -> None:
    """The photo dimmed outside the mask, the found box in red and the ground truth in green."""
    shown = np.where(mask[..., None], crop, (crop * 0.35).astype(np.uint8))
    img = _draw_boxes(shown, truth, TRUTH)
    if box is not None:
        img = _draw_boxes(np.asarray(img), [box], FOUND)
    _save(img, path)
