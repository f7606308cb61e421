"""Synthetic photos with one coloured object at a known box, for tests of localisers and pipelines."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from attribkit._core.interfaces import Box


def synthetic_images(
    count: int,
    *,
    size: tuple[int, int] = (224, 224),
    seed: int = 0,
    noise: float = 12.0,
) -> Iterator[tuple[np.ndarray, np.ndarray, Box]]:
    """``(rgb, saliency, box)`` triples: a textured background with a filled ellipse of another colour.

    The saliency map is hot on the object (with noise and a few hot background pixels, as real maps
    have), so a good localiser recovers ``box``. ``size`` is ``(height, width)``.

    Example
    -------
    >>> rgb, saliency, box = next(synthetic_images(1))
    >>> rgb.shape, saliency.shape
    ((224, 224, 3), (224, 224))
    """
    rng = np.random.default_rng(seed)
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width]
    for _ in range(count):
        background, colour = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
        # Keep object and background colours apart so the task is well posed.
        while np.abs(background - colour).sum() < 150:
            colour = rng.uniform(20, 235, 3)
        bw, bh = int(width * rng.uniform(0.25, 0.6)), int(height * rng.uniform(0.25, 0.6))
        x0, y0 = int(rng.integers(0, width - bw + 1)), int(rng.integers(0, height - bh + 1))
        cx, cy, rx, ry = x0 + bw / 2, y0 + bh / 2, bw / 2, bh / 2
        inside = ((cols + 0.5 - cx) / rx) ** 2 + ((rows + 0.5 - cy) / ry) ** 2 <= 1.0
        rgb = np.where(inside[..., None], colour, background) + rng.normal(0, noise, (height, width, 3))
        rgb = rgb.clip(0, 255).astype(np.uint8)
        saliency = inside * rng.uniform(0.3, 1.0, (height, width)) + rng.uniform(0, 0.2, (height, width))
        hot = rng.random((height, width)) < 0.002
        saliency = np.where(hot, 1.0, saliency).astype(np.float32)
        ys, xs = np.nonzero(inside)
        yield rgb, saliency, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def synthetic_photo(index: int, *, size: tuple[int, int] = (40, 48), seed: int = 0) -> tuple[np.ndarray, Box]:
    """Photo ``index`` of a synthetic study set: noise with a bright rectangle, and the rectangle's box.

    A pure function of ``(index, size, seed)`` (its own generator), so a set of any size is described by
    its count alone and never has to be written to disk; ``size`` is ``(height, width)``, at least 8x8.
    Returns ``[H, W, 3]`` uint8 RGB and ``(x0, y0, x1, y1)`` in pixels.
    """
    height, width = size
    rng = np.random.default_rng([seed, index])
    rgb = rng.integers(0, 120, size=(height, width, 3), dtype=np.uint8)
    bw, bh = int(rng.integers(width // 4, width // 2 + 1)), int(rng.integers(height // 4, height // 2 + 1))
    x0, y0 = int(rng.integers(0, width - bw + 1)), int(rng.integers(0, height - bh + 1))
    rgb[y0 : y0 + bh, x0 : x0 + bw] = rng.integers(180, 256, 3, dtype=np.uint8)
    return rgb, (x0, y0, x0 + bw, y0 + bh)
