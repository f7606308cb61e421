"""The ``graphcut`` localiser: weakly supervised object localisation (Simonyan et al. 2013, section 4).

From an image and its class saliency map: a foreground colour model (Gaussian mixture) is fitted to the
pixels above the 95% saliency quantile, a background model to those below the 30% quantile, the image
is segmented by a graph cut (GrabCut's energy: colour-model unaries, contrast-sensitive Potts pairwise
terms on the 8-neighbourhood), and the bounding box of the largest connected foreground component is
the answer.

The colour models are Gaussian mixtures (:mod:`attribkit.methods.graphcut._colour_model`), learnt as GrabCut learns
them (k-means clusters become components) or by scikit-learn's EM, and the cut is PyMaxflow's
Boykov-Kolmogorov max-flow, so the number of mixture components and the smoothness weight are real
options (OpenCV's ``grabCut`` fixes them at 5 and 50). The cut runs on a copy of the image whose longer
side is at most ``work_size`` pixels (segmentation is set by the colour models and the map's own coarse
resolution, and the cost grows with the pixel count); a second cut on a band along the boundary, at the
image's own resolution, then puts the edge and so the box back on the right pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from attribkit import Localisation
from attribkit.errors import OptionError
from attribkit.localisation import (
    is_flat,
    largest_component,
    mask_box,
    photo_map,
    resize_known,
    smooth,
    whole_image,
)
from attribkit.methods.graphcut._colour_model import FITS, ColourModel, channels_of, fit_colour_model
from attribkit.methods.graphcut._graph_cut import Unaries, band_cut, boundary_band, grid_cut


@dataclass(frozen=True)
class GraphCut:
    """Saliency-seeded colour segmentation (the paper's defaults).

    Parameters
    ----------
    foreground_quantile
        Pixels with saliency at or above this quantile seed the foreground model (paper: 0.95).
    background_quantile
        Pixels at or below this quantile seed the background model (paper: 0.30).
    components
        Gaussians per colour mixture (GrabCut's 5).
    colour_fit
        How a mixture is fitted to its seed colours: ``"kmeans"``, GrabCut's own learning (k-means
        clusters become components), or ``"em"``, scikit-learn's EM (slower, same accuracy on the dev
        photos; see :mod:`attribkit.methods.graphcut._colour_model`).
    smoothness
        Weight of the pairwise term, GrabCut's γ (50).
    iterations
        Rounds of "fit the colour models on the current labels, cut again" (GrabCut-style; 1 = one cut).
    sure_seeds
        Seed pixels keep their label in the cut (hard constraints); ``False`` uses them only to fit
        the colour models, like GrabCut's "probable" labels.
    work_size
        Longer side of the image the cut runs on (``None``: the image's own size).
    refine
        After a cut on a smaller copy, re-cut a band along the boundary near the box's sides at the
        image's own resolution (``False``: the small cut's mask, scaled up).
    blur
        Gaussian blur of the map before taking quantiles, sigma as a fraction of its shorter side.
    component
        ``"largest"``: the box of the largest connected foreground component (the paper);
        ``"all"``: the box of all foreground.
    levels
        How ``foreground_quantile`` and ``background_quantile`` set the seed levels: ``"quantile"``, as
        quantiles of the map's values (the paper), or ``"range"``, as fractions of its range
        (``min + q (max - min)``, as class-activation-map papers threshold maps).
    seed
        Random seed for the mixture fits (results are deterministic).

    Notes
    -----
    Fallback: a map with no information (all values equal, or no finite value) or a quantile pair with
    no pixel between them gives the whole image as mask and box, never an error. A map at another
    resolution than the image is resized (bilinear). NaN marks pixels of unknown saliency: they take no
    seed and are labelled by the colour models alone.
    """

    foreground_quantile: float = 0.95
    background_quantile: float = 0.30
    components: int = 5
    colour_fit: str = "kmeans"
    smoothness: float = 50.0
    iterations: int = 1
    sure_seeds: bool = True
    work_size: int | None = 112
    refine: bool = True
    blur: float = 0.0
    component: str = "largest"
    levels: str = "quantile"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.background_quantile < self.foreground_quantile <= 1.0:
            raise OptionError(
                "need 0 <= background_quantile < foreground_quantile <= 1; got "
                f"{self.background_quantile} and {self.foreground_quantile}"
            )
        if self.components < 1 or self.iterations < 1:
            raise OptionError(f"components and iterations must be >= 1; got {self.components}, {self.iterations}")
        if self.smoothness < 0:
            raise OptionError(f"smoothness must be >= 0; got {self.smoothness}")
        if self.work_size is not None and self.work_size < 8:
            raise OptionError(f"work_size must be >= 8 or None; got {self.work_size}")
        if self.component not in ("largest", "all"):
            raise OptionError(f"component must be 'largest' or 'all'; got {self.component!r}")
        if self.levels not in LEVELS:
            raise OptionError(f"levels must be one of {LEVELS}; got {self.levels!r}")
        if self.colour_fit not in FITS:
            raise OptionError(f"colour_fit must be one of {FITS}; got {self.colour_fit!r}")

    def localise(self, image: np.ndarray, saliency: np.ndarray | torch.Tensor) -> Localisation:
        """Mask and box of the object in ``image`` (``[H, W, 3]`` uint8 RGB) given its saliency map."""
        rgb = np.asarray(image)
        full = smooth(photo_map(rgb, saliency), self.blur)
        height, width = full.shape
        if is_flat(full):
            return whole_image(height, width)
        small_rgb, small_map = _downsample(rgb, full, self.work_size)
        fg_seed, bg_seed, lo, hi = seeds(small_map, self.background_quantile, self.foreground_quantile, self.levels)
        if not fg_seed.any() or not bg_seed.any():
            return whole_image(height, width, "no seeds")
        fallback = None
        foreground, unaries = self._segment(small_rgb, fg_seed, bg_seed)
        if not foreground.any():
            foreground = fg_seed  # the cut kept nothing: the seeds are the best answer left
            fallback = "empty cut: the foreground seeds"
        if self.component == "largest":
            foreground = largest_component(foreground)
        mask = cv2.resize(foreground.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        if self.refine and small_map.shape != full.shape and foreground.any():
            # One pixel of the small cut spans `scale` photo pixels: re-cut a band that wide and a
            # pixel more on each side of the boundary, at full resolution, with the same colour models.
            scale = max(height, width) / max(small_map.shape)
            with np.errstate(invalid="ignore"):
                sure = (full >= hi, full <= lo) if self.sure_seeds else (None, None)
            band = boundary_band(mask, math.ceil(scale) + 1)
            mask = band_cut(rgb, mask, band, unaries, self.smoothness, *sure)
            if self.component == "largest":
                mask = largest_component(mask)
        return Localisation(mask, mask_box(mask), fallback)

    def _segment(self, rgb: np.ndarray, fg_seed: np.ndarray, bg_seed: np.ndarray) -> tuple[np.ndarray, Unaries]:
        """The cut's foreground, and the unaries of the colour models it was cut with."""
        pixels = rgb.reshape(-1, 3).astype(np.float64)
        rng = np.random.default_rng(self.seed)
        fg, bg = fg_seed, bg_seed
        for _ in range(self.iterations):
            unaries = _unaries(fit_colour_model(pixels[fg.ravel()], self.components, rng, self.colour_fit),
                               fit_colour_model(pixels[bg.ravel()], self.components, rng, self.colour_fit))
            cost_fg, cost_bg = (c.reshape(fg_seed.shape) for c in unaries(pixels))
            labels = grid_cut(rgb, cost_fg, cost_bg, self.smoothness,
                              *((fg_seed, bg_seed) if self.sure_seeds else (None, None)))
            # The next round's colour models see the cut's labels (seeds always count for their side).
            fg, bg = labels | fg_seed, (~labels) | bg_seed
            if not fg.any() or not bg.any():
                break
        return labels, unaries


#: How seed levels are read: quantiles of the map's values, or fractions of its range.
LEVELS = ("quantile", "range")


def seeds(saliency: np.ndarray, background_quantile: float, foreground_quantile: float,
          levels: str = "quantile") -> tuple[np.ndarray, np.ndarray, float, float]:
    """Foreground and background seed masks of a map (NaN: neither), and the two levels.

    The paper seeds the foreground with pixels whose saliency is *higher than* the foreground quantile
    and the background with those *lower than* the background quantile. Read as ``>=`` and ``<=`` (they
    differ only at ties), except where the two levels tie: a map that is zero but on a small object (a
    ReLU-clipped class activation map) puts both quantiles at 0, and then the foreground is the pixels
    strictly above the tied value, the background those at it or below.
    """
    known = saliency[np.isfinite(saliency)]
    if levels == "range":
        low, high = float(known.min()), float(known.max())
        lo, hi = low + background_quantile * (high - low), low + foreground_quantile * (high - low)
    else:
        lo, hi = (float(v) for v in np.quantile(known, [background_quantile, foreground_quantile]))
    with np.errstate(invalid="ignore"):
        if lo < hi:
            return saliency >= hi, saliency <= lo, lo, hi
        return saliency > hi, saliency <= lo, lo, hi


def _unaries(foreground: ColourModel, background: ColourModel) -> Unaries:
    """Each colour's cost of either label: its negative log-likelihood under that side's model."""

    def unaries(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        channels = channels_of(colours)
        return -foreground.log_likelihood(channels), -background.log_likelihood(channels)

    return unaries


def _downsample(rgb: np.ndarray, saliency: np.ndarray, work_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    height, width = saliency.shape
    if work_size is None or max(height, width) <= work_size:
        return rgb, saliency
    scale = work_size / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    small = resize_known(saliency, size[1], size[0], cv2.INTER_AREA)
    return small_rgb, small
