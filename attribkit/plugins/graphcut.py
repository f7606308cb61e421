"""Built-in localiser ``graphcut``: weakly supervised object localisation (Simonyan et al. 2013, section 4).

From an image and its class saliency map: a foreground colour model (Gaussian mixture) is fitted to the
pixels above the 95% saliency quantile, a background model to those below the 30% quantile, the image
is segmented by a graph cut (GrabCut's energy: colour-model unaries, contrast-sensitive Potts pairwise
terms on the 8-neighbourhood), and the bounding box of the largest connected foreground component is
the answer.

The colour models are scikit-learn's :class:`~sklearn.mixture.GaussianMixture` and the cut is
PyMaxflow's Boykov-Kolmogorov max-flow, so the number of mixture components and the smoothness weight
are real options (OpenCV's ``grabCut`` fixes them at 5 and 50). The cut runs on a copy of the image
whose longer side is at most ``work_size`` pixels: segmentation quality is set by the colour models and
the map's own (coarse) resolution, and the cost grows with the pixel count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import maxflow
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from attribkit._boxes import largest_component, mask_box
from attribkit._interfaces import Localisation
from attribkit._maps import is_flat, photo_map, resize_known, smooth
from attribkit.hookspecs import hookimpl

#: Most pixels a colour model is fitted on: a random subset beyond this changes the mixture little.
_MAX_FIT_PIXELS = 1000
#: The 8-neighbourhood as four offsets (the other four are the same edges seen from the other end).
_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))


def whole_image(height: int, width: int) -> Localisation:
    """The documented fallback when a map has nothing to say: the whole image."""
    return Localisation(np.ones((height, width), dtype=bool), (0, 0, width, height))


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
    smoothness
        Weight of the pairwise term, GrabCut's γ (50).
    iterations
        Rounds of "fit the colour models on the current labels, cut again" (GrabCut-style; 1 = one cut).
    sure_seeds
        Seed pixels keep their label in the cut (hard constraints); ``False`` uses them only to fit
        the colour models, like GrabCut's "probable" labels.
    work_size
        Longer side of the image the cut runs on (``None``: the image's own size).
    blur
        Gaussian blur of the map before taking quantiles, sigma as a fraction of its shorter side.
    component
        ``"largest"``: the box of the largest connected foreground component (the paper);
        ``"all"``: the box of all foreground.
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
    smoothness: float = 50.0
    iterations: int = 1
    sure_seeds: bool = True
    work_size: int | None = 112
    blur: float = 0.0
    component: str = "largest"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.background_quantile < self.foreground_quantile <= 1.0:
            raise ValueError(
                "need 0 <= background_quantile < foreground_quantile <= 1; got "
                f"{self.background_quantile} and {self.foreground_quantile}"
            )
        if self.components < 1 or self.iterations < 1:
            raise ValueError(f"components and iterations must be >= 1; got {self.components}, {self.iterations}")
        if self.smoothness < 0:
            raise ValueError(f"smoothness must be >= 0; got {self.smoothness}")
        if self.work_size is not None and self.work_size < 8:
            raise ValueError(f"work_size must be >= 8 or None; got {self.work_size}")
        if self.component not in ("largest", "all"):
            raise ValueError(f"component must be 'largest' or 'all'; got {self.component!r}")

    def localise(self, image: np.ndarray, saliency: np.ndarray | torch.Tensor) -> Localisation:
        """Mask and box of the object in ``image`` (``[H, W, 3]`` uint8 RGB) given its saliency map."""
        full = smooth(photo_map(image, saliency), self.blur)
        height, width = full.shape
        if is_flat(full):
            return whole_image(height, width)
        small_rgb, small_map = _downsample(np.asarray(image), full, self.work_size)
        known = small_map[np.isfinite(small_map)]
        hi = np.quantile(known, self.foreground_quantile)
        lo = np.quantile(known, self.background_quantile)
        if not lo < hi:
            return whole_image(height, width)
        with np.errstate(invalid="ignore"):
            fg_seed, bg_seed = small_map >= hi, small_map <= lo
        foreground = self._segment(small_rgb.astype(np.float64), fg_seed, bg_seed)
        if not foreground.any():
            foreground = fg_seed  # the cut kept nothing: the seeds are the best answer left
        if self.component == "largest":
            foreground = largest_component(foreground)
        mask = cv2.resize(foreground.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        return Localisation(mask, mask_box(mask))

    def _segment(self, rgb: np.ndarray, fg_seed: np.ndarray, bg_seed: np.ndarray) -> np.ndarray:
        pixels = rgb.reshape(-1, 3)
        pairwise = _pairwise_weights(rgb, self.smoothness)
        rng = np.random.default_rng(self.seed)
        fg, bg = fg_seed.copy(), bg_seed.copy()
        for _ in range(self.iterations):
            cost_fg = -self._fit(pixels[fg.ravel()], rng).score_samples(pixels)
            cost_bg = -self._fit(pixels[bg.ravel()], rng).score_samples(pixels)
            labels = _cut(cost_fg.reshape(fg.shape), cost_bg.reshape(fg.shape), pairwise,
                          fg_seed if self.sure_seeds else None, bg_seed if self.sure_seeds else None)
            # The next round's colour models see the cut's labels (seeds always count for their side).
            fg, bg = labels | fg_seed, (~labels) | bg_seed
            if not fg.any() or not bg.any():
                break
        return labels

    def _fit(self, samples: np.ndarray, rng: np.random.Generator) -> GaussianMixture:
        if len(samples) > _MAX_FIT_PIXELS:
            samples = samples[rng.choice(len(samples), _MAX_FIT_PIXELS, replace=False)]
        k = max(1, min(self.components, len(np.unique(samples, axis=0))))
        # reg_covar (in 0..255 colour units) keeps a flat-coloured region from a singular covariance. A few
        # EM steps from k-means++ centres suffice: GrabCut itself does one hard-assignment step per round.
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=1.0, max_iter=2, init_params="k-means++",
                              random_state=int(rng.integers(2**31)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return gmm.fit(samples)


def _downsample(rgb: np.ndarray, saliency: np.ndarray, work_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    height, width = saliency.shape
    if work_size is None or max(height, width) <= work_size:
        return rgb, saliency
    scale = work_size / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    small = resize_known(saliency, size[1], size[0], cv2.INTER_AREA)
    return small_rgb, small


def _pairwise_weights(rgb: np.ndarray, smoothness: float) -> list[tuple[tuple[int, int], np.ndarray]]:
    """GrabCut's contrast-sensitive Potts weights γ·exp(−β‖z_m − z_n‖²)/dist for each 8-neighbour offset,
    with β = 1 / (2 · mean ‖z_m − z_n‖²) so the term adapts to the image's contrast."""
    height, width = rgb.shape[:2]
    diffs = []
    for dy, dx in _OFFSETS:
        d = np.zeros((height, width))
        ys, ye = 0, height - dy
        xs, xe = max(0, -dx), width - max(0, dx)
        d[ys:ye, xs:xe] = ((rgb[ys:ye, xs:xe] - rgb[ys + dy : ye + dy, xs + dx : xe + dx]) ** 2).sum(-1)
        diffs.append((ys, ye, xs, xe, d))
    total = sum(d[ys:ye, xs:xe].sum() for ys, ye, xs, xe, d in diffs)
    count = sum((ye - ys) * (xe - xs) for ys, ye, xs, xe, _ in diffs)
    beta = 1.0 / (2.0 * total / count) if total > 0 else 0.0
    out = []
    for (dy, dx), (_, _, _, _, d) in zip(_OFFSETS, diffs):
        out.append(((dy, dx), smoothness * np.exp(-beta * d) / np.hypot(dy, dx)))
    return out


def _cut(
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    pairwise: list[tuple[tuple[int, int], np.ndarray]],
    sure_fg: np.ndarray | None,
    sure_bg: np.ndarray | None,
) -> np.ndarray:
    """Minimum cut; True = foreground (the source side)."""
    # Only differences of unaries matter: shifting both by their minimum keeps capacities non-negative.
    base = np.minimum(cost_fg, cost_bg)
    source, sink = cost_bg - base, cost_fg - base
    if sure_fg is not None and sure_bg is not None:
        hard = 1e3 * (1.0 + source.max() + sink.max() + sum(w.sum() for _, w in pairwise) / source.size * 8)
        source = np.where(sure_fg, hard, np.where(sure_bg, 0.0, source))
        sink = np.where(sure_bg, hard, np.where(sure_fg, 0.0, sink))
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes(cost_fg.shape)
    for (dy, dx), weights in pairwise:
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    graph.add_grid_tedges(nodes, source, sink)
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)


@hookimpl
def attribkit_register(registry):  # type: ignore[no-untyped-def]
    registry.add_localiser(
        "graphcut",
        GraphCut,
        description="GMM colour models seeded by saliency quantiles + graph cut, largest component's box "
                    "(paper section 4)",
    )
