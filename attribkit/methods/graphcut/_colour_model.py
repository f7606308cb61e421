"""GrabCut's colour models: a Gaussian mixture per side, fitted on seed pixels, scoring every pixel.

Two ways to fit one, both cheap on the few hundred seed colours they see:

- ``"kmeans"`` (the default): GrabCut's own learning (Rother et al. 2004, and OpenCV's ``grabCut``):
  cluster the colours with k-means (OpenCV's ``cv2.kmeans``, k-means++ seeding), then each cluster's
  share, mean and covariance are a component's weight, mean and covariance.
- ``"em"``: scikit-learn's :class:`~sklearn.mixture.GaussianMixture`, one EM step from k-means++
  centres. About ten times slower, from fixed per-call costs: on a 224-pixel image two such fits
  were 60% of the localiser's time.

Scoring bypasses ``score_samples``-style per-component loops: see :meth:`ColourModel.log_likelihood`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from attribkit.errors import InputError, OptionError

#: Most pixels a colour model is fitted on: a random subset beyond this changes the mixture little
#: (on the 80 dev photos 500 and 1000 give the same GT-known accuracy, within one photo).
MAX_FIT_PIXELS = 500
#: Added to each covariance's diagonal (0..255 colour units): a flat-coloured region is not singular.
REG_COVAR = 1.0
FITS = ("kmeans", "em")
#: Packs an 8-bit RGB colour into one number, to count distinct colours cheaply.
_PACK = np.array([65536.0, 256.0, 1.0])


@dataclass(frozen=True)
class ColourModel:
    """A Gaussian mixture over RGB colours, in scikit-learn's parametrisation."""

    weights: np.ndarray
    """``[K]``, summing to 1."""
    means: np.ndarray
    """``[K, 3]``."""
    precisions_cholesky: np.ndarray
    """``[K, 3, 3]``: component k whitens a colour x as ``(x - means[k]) @ precisions_cholesky[k]``."""

    @classmethod
    def from_covariances(cls, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> ColourModel:
        lower = np.linalg.cholesky(covariances)
        return cls(weights, means, np.linalg.inv(lower).transpose(0, 2, 1))

    @classmethod
    def from_sklearn(cls, mixture: GaussianMixture) -> ColourModel:
        return cls(mixture.weights_, mixture.means_, mixture.precisions_cholesky_)

    def log_likelihood(self, channels: np.ndarray) -> np.ndarray:
        """Log density of each of ``[3, N]`` float32 colours (scikit-learn's ``score_samples``, to 1e-5).

        The whitening of every component is one ``[3K, 3] @ [3, N]`` product and the log-sum-exp runs
        over contiguous rows; float32 is ample for unaries, which are only compared with each other.
        """
        chol = self.precisions_cholesky
        k, dims, _ = chol.shape
        offsets = np.einsum("kd,kde->ke", self.means, chol).astype(np.float32)
        y = chol.transpose(0, 2, 1).reshape(k * dims, dims).astype(np.float32) @ channels
        y -= offsets.reshape(k * dims, 1)
        y *= y
        distance = y[0::dims].copy()  # rows of component k: k * dims + d
        for d in range(1, dims):
            distance += y[d::dims]
        log_norm = (np.log(self.weights) + np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
                    - 0.5 * dims * np.log(2 * np.pi))
        log_prob = log_norm.astype(np.float32)[:, None] - 0.5 * distance  # [K, N]
        top = log_prob.max(0)
        log_prob -= top
        np.exp(log_prob, out=log_prob)
        return top + np.log(log_prob.sum(0))


def fit_colour_model(samples: np.ndarray, components: int, rng: np.random.Generator,
                     fit: str = "kmeans") -> ColourModel:
    """A ``components``-Gaussian mixture (fewer if there are fewer distinct colours) on ``[N, 3]`` colours."""
    if fit not in FITS:
        raise OptionError(f"fit must be one of {FITS}; got {fit!r}")
    if len(samples) == 0:
        raise InputError("no seed colours to fit a colour model on")
    if len(samples) > MAX_FIT_PIXELS:
        samples = samples[rng.choice(len(samples), MAX_FIT_PIXELS, replace=False)]
    k = max(1, min(components, len(np.unique(samples @ _PACK))))
    seed = int(rng.integers(2**31))
    return _kmeans_fit(samples, k, seed) if fit == "kmeans" else _em_fit(samples, k, seed)


def _kmeans_fit(samples: np.ndarray, k: int, seed: int) -> ColourModel:
    if k == 1:
        # One component is the samples' mean and covariance; cv2.kmeans is not needed, and it would
        # read a single [1, 3] sample as three one-dimensional ones.
        return _single(samples)
    data = np.ascontiguousarray(samples, dtype=np.float32)
    cv2.setRNGSeed(seed)  # OpenCV's generator is per thread: this seeds only the k-means++ below
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 0.5)
    _, labels, _ = cv2.kmeans(data, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    labels = labels.ravel()
    weights, means, covariances = [], [], []
    for j in np.unique(labels):  # a cluster k-means left empty is no component
        members = samples[labels == j].astype(np.float64)
        weights.append(len(members) / len(samples))
        means.append(members.mean(0))
        covariances.append(np.cov(members, rowvar=False, bias=True).reshape(3, 3) + REG_COVAR * np.eye(3))
    return ColourModel.from_covariances(np.array(weights), np.array(means), np.array(covariances))


def _single(samples: np.ndarray) -> ColourModel:
    members = np.asarray(samples, dtype=np.float64).reshape(-1, 3)
    covariance = np.cov(members, rowvar=False, bias=True).reshape(3, 3) if len(members) > 1 else np.zeros((3, 3))
    return ColourModel.from_covariances(np.ones(1), members.mean(0, keepdims=True),
                                        (covariance + REG_COVAR * np.eye(3))[None])


def _em_fit(samples: np.ndarray, k: int, seed: int) -> ColourModel:
    if k == 1 and len(samples) < 2:
        return _single(samples)  # scikit-learn's mixtures need two samples
    # One EM step from k-means++ centres: GrabCut, too, re-estimates once per round.
    mixture = GaussianMixture(k, covariance_type="full", reg_covar=REG_COVAR, max_iter=1,
                              init_params="k-means++", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ColourModel.from_sklearn(mixture.fit(samples))


def channels_of(pixels: np.ndarray) -> np.ndarray:
    """``[N, 3]`` colours → the ``[3, N]`` float32 layout :meth:`ColourModel.log_likelihood` takes."""
    return np.ascontiguousarray(np.asarray(pixels).T, dtype=np.float32)
