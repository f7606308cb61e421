"""The pieces of ``graphcut``: fast colour-model scoring and the banded re-cut, against references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.mixture import GaussianMixture

from attribkit._core.boxes import box_mask, mask_box
from attribkit.methods.graphcut._colour_model import ColourModel, channels_of, fit_colour_model
from attribkit.methods.graphcut._graph_cut import band_cut, boundary_band, grid_cut
from attribkit import create_localiser
from attribkit.methods.graphcut import GraphCut


@pytest.mark.parametrize("components", [1, 3, 5])
def test_log_likelihood_equals_scikit_learn(components):
    rng = np.random.default_rng(components)
    colours = rng.integers(0, 256, (3000, 3)).astype(np.float64)
    mixture = GaussianMixture(components, reg_covar=1.0, random_state=0).fit(colours[:800])
    got = ColourModel.from_sklearn(mixture).log_likelihood(channels_of(colours))
    np.testing.assert_allclose(got, mixture.score_samples(colours), rtol=1e-5, atol=1e-4)
    # The same mixture given by its covariances (how the k-means fit builds one).
    rebuilt = ColourModel.from_covariances(mixture.weights_, mixture.means_, mixture.covariances_)
    np.testing.assert_allclose(rebuilt.precisions_cholesky, mixture.precisions_cholesky_, rtol=1e-6, atol=1e-9)


def test_kmeans_fit_is_grabcuts_learning():
    """Well-separated colour clusters: one component each, with the cluster's share, mean and covariance."""
    rng = np.random.default_rng(0)
    centres = np.array([[20.0, 30.0, 200.0], [220.0, 40.0, 40.0], [90.0, 200.0, 90.0]])
    sizes = (100, 150, 250)
    samples = np.concatenate([c + rng.normal(0, 4, (n, 3)) for c, n in zip(centres, sizes)])
    model = fit_colour_model(samples, 3, np.random.default_rng(1), "kmeans")
    order = np.argsort(model.means[:, 0])
    np.testing.assert_allclose(model.weights[order], np.array(sizes)[[0, 2, 1]] / 500)
    np.testing.assert_allclose(model.means[order], centres[[0, 2, 1]], atol=1.5)
    # The whitening undoes each cluster's covariance (4² per channel, plus REG_COVAR).
    for k in range(3):
        precision = model.precisions_cholesky[k] @ model.precisions_cholesky[k].T
        np.testing.assert_allclose(np.diag(np.linalg.inv(precision)), 17.0, rtol=0.35)


@pytest.mark.parametrize("fit", ["kmeans", "em"])
def test_fits_are_deterministic_and_score_their_own_colours_higher(fit):
    rng = np.random.default_rng(0)
    red = np.array([200.0, 30.0, 30.0]) + rng.normal(0, 5, (800, 3))
    blue = np.array([30.0, 30.0, 200.0]) + rng.normal(0, 5, (800, 3))
    first = fit_colour_model(red, 5, np.random.default_rng(7), fit)
    again = fit_colour_model(red, 5, np.random.default_rng(7), fit)
    np.testing.assert_array_equal(first.means, again.means)
    assert (first.log_likelihood(channels_of(red)) > first.log_likelihood(channels_of(blue))).all()


@pytest.mark.parametrize("fit", ["kmeans", "em"])
def test_a_flat_colour_region_gets_one_component_and_no_singular_covariance(fit):
    samples = np.tile([[10.0, 200.0, 30.0]], (50, 1))
    model = fit_colour_model(samples, 5, np.random.default_rng(0), fit)
    assert model.weights.shape == (1,)
    assert np.isfinite(model.log_likelihood(channels_of(samples))).all()


def test_an_unknown_fit_is_an_error():
    with pytest.raises(ValueError, match="fit must be one of"):
        fit_colour_model(np.zeros((5, 3)), 2, np.random.default_rng(0), "magic")


def _problem(seed: int, size: int = 10):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
    cost_fg, cost_bg = rng.uniform(0, 5, (2, size, size))
    sure_fg = np.zeros((size, size), bool)
    sure_bg = np.zeros((size, size), bool)
    sure_fg[size // 2, size // 2] = sure_bg[0, 0] = True
    return rgb, cost_fg, cost_bg, sure_fg, sure_bg


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), smoothness=st.floats(0.0, 20.0))
def test_a_band_covering_the_image_is_the_grid_cut(seed, smoothness):
    rgb, cost_fg, cost_bg, sure_fg, sure_bg = _problem(seed)
    height, width = cost_fg.shape
    lookup = {tuple(c): (f, b) for c, f, b in zip(rgb.reshape(-1, 3).tolist(), cost_fg.ravel(), cost_bg.ravel())}

    def unaries(colours):
        pairs = np.array([lookup[tuple(c)] for c in colours.tolist()])
        return pairs[:, 0], pairs[:, 1]

    if len(lookup) < height * width:  # a repeated colour would make the unaries ambiguous
        return
    whole = grid_cut(rgb, cost_fg, cost_bg, smoothness, sure_fg, sure_bg)
    start = np.zeros((height, width), bool)  # the band's starting labels must not matter
    banded = band_cut(rgb, start, np.ones((height, width), bool), unaries, smoothness, sure_fg, sure_bg)
    np.testing.assert_array_equal(banded, whole)


def test_the_band_cut_is_the_grid_cut_with_the_rest_held_fixed():
    """Brute force on a tiny image: the band's labelling minimises the whole energy over the band."""
    from itertools import product

    from attribkit.methods.graphcut._graph_cut import OFFSETS, _planes, _potts, _sq_distance, contrast_beta

    rgb, cost_fg, cost_bg, _, _ = _problem(3, size=5)
    planes = _planes(rgb)
    beta = contrast_beta(planes)

    def energy(labels: np.ndarray) -> float:
        total = float(np.where(labels, cost_fg, cost_bg).sum())
        for y, x in product(range(5), range(5)):
            for dy, dx in OFFSETS:
                qy, qx = y + dy, x + dx
                if 0 <= qy < 5 and 0 <= qx < 5 and labels[y, x] != labels[qy, qx]:
                    total += float(_potts(_sq_distance(planes[:, y, x], planes[:, qy, qx]), 10.0, beta, dy, dx))
        return total

    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    band = np.zeros((5, 5), bool)
    band[1:4, 2:5] = True  # 9 free pixels: 512 labellings
    colour_at = {tuple(rgb[y, x]): (y, x) for y, x in product(range(5), range(5))}
    assert len(colour_at) == 25  # every pixel's colour says which pixel it is

    def unaries(colours):
        where = [colour_at[tuple(c)] for c in colours.tolist()]
        return np.array([cost_fg[p] for p in where]), np.array([cost_bg[p] for p in where])

    got = band_cut(rgb, mask, band, unaries, 10.0)
    best = min(product([False, True], repeat=int(band.sum())), key=lambda bits: energy(_fill(mask, band, bits)))
    np.testing.assert_array_equal(got, _fill(mask, band, best))
    np.testing.assert_array_equal(got[~band], mask[~band])


def _fill(mask: np.ndarray, band: np.ndarray, bits) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = mask.copy()
    out[band] = bits
    return out


def test_boundary_band_keeps_to_the_box_sides():
    mask = box_mask((10, 10, 50, 40), 60, 70)
    band = boundary_band(mask, 2, box_sides_only=False)
    assert band[8:12, 30].all() and not band[12:38, 30].any() and not band[:8, 30].any()
    sides = boundary_band(mask, 2)
    assert (sides <= band).all()
    assert boundary_band(np.zeros((5, 5), bool), 1).sum() == 0


def test_an_empty_band_changes_nothing():
    mask = box_mask((1, 1, 4, 4), 6, 6)
    out = band_cut(np.zeros((6, 6, 3), np.uint8), mask, np.zeros((6, 6), bool), lambda c: (c[:, 0], c[:, 0]), 1.0)
    np.testing.assert_array_equal(out, mask)


@pytest.mark.parametrize("size", [(224, 224), (375, 500)])
def test_a_cut_on_a_smaller_copy_still_finds_the_box_to_the_pixel(size):
    """A sharp-edged object whose box does not fall on the small copy's pixel grid (the refinement's
    reason to exist): the box must be exact, as a full-resolution cut gives."""
    height, width = size
    rgb = np.random.default_rng(0).integers(0, 90, (height, width, 3)).astype(np.uint8)
    box = (61, 47, 61 + width // 2 + 1, 47 + height // 2 + 1)  # odd coordinates and sizes
    rgb[box[1] : box[3], box[0] : box[2]] = (220, 60, 40)
    saliency = np.zeros((height, width), np.float32)
    saliency[box[1] : box[3], box[0] : box[2]] = 0.5  # neither seed: the colour models decide
    saliency[box[1] + 9 : box[3] - 9, box[0] + 9 : box[2] - 9] = 1.0
    saliency += np.random.default_rng(1).uniform(0, 0.01, saliency.shape).astype(np.float32)
    found = GraphCut().localise(rgb, saliency)
    assert found.box == box
    assert mask_box(found.mask) == box


# --- Degenerate seeds (issue 12): tiny photos, few known pixels, maps that are zero but on the object.

@pytest.mark.parametrize("side", [3, 4])
def test_tiny_photos_do_not_crash_the_colour_fit(side):
    rng = np.random.default_rng(side)
    rgb = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    found = GraphCut(work_size=None).localise(rgb, rng.random((side, side)))
    assert found.mask.shape == (side, side) and found.box is not None


@pytest.mark.parametrize("known", [9, 12, 16])
def test_few_known_pixels_do_not_crash(known):
    rng = np.random.default_rng(known)
    rgb = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    saliency = np.full((40, 40), np.nan, np.float32)
    saliency.flat[rng.choice(1600, known, replace=False)] = rng.random(known)
    found = GraphCut(work_size=None).localise(rgb, saliency)
    assert found.mask.shape == (40, 40)


def test_one_seed_pixel_fits_a_colour_model():
    from attribkit.methods.graphcut._colour_model import fit_colour_model

    for fit in ("kmeans", "em"):
        model = fit_colour_model(np.array([[10.0, 200.0, 30.0]]), 5, np.random.default_rng(0), fit)
        assert model.means.tolist() == [[10.0, 200.0, 30.0]] and model.weights.tolist() == [1.0]


def test_a_map_zero_but_on_a_small_object_boxes_the_object():
    # A ReLU-clipped class activation map: 12x12 hot pixels in 64x64 put both quantiles at 0.
    rgb = np.full((64, 64, 3), 90, np.uint8)
    rgb[20:32, 30:42] = (200, 40, 40)
    saliency = np.zeros((64, 64), np.float32)
    saliency[20:32, 30:42] = 1.0
    found = GraphCut(work_size=None).localise(rgb, saliency)
    assert found.box == (30, 20, 42, 32) and found.fallback is None
    assert create_localiser("threshold").localise(rgb, saliency).box == found.box


def test_fallbacks_are_reported():
    rgb = np.zeros((16, 16, 3), np.uint8)
    flat = GraphCut().localise(rgb, np.ones((16, 16)))
    assert flat.box == (0, 0, 16, 16) and flat.fallback == "flat map"
    assert GraphCut().localise(rgb, np.arange(256.0).reshape(16, 16)).fallback in (None, "empty cut: the foreground seeds")
    assert create_localiser("threshold").localise(rgb, np.ones((16, 16))).fallback == "flat map"
