"""The built-in localisers: graphcut (paper section 4) and the threshold / centre baselines."""

from __future__ import annotations

import numpy as np
import pytest

import attribkit
from attribkit._core.boxes import mask_box
from attribkit.data import synthetic_images
from attribkit.metrics import iou
from attribkit.methods.graphcut import GraphCut


def test_paper_values_are_the_defaults():
    gc = attribkit.create_localiser("graphcut")
    assert (gc.foreground_quantile, gc.background_quantile) == (0.95, 0.30)
    # Mixture size and smoothness: GrabCut's values, which the paper's GraphCut used.
    assert (gc.components, gc.smoothness, gc.iterations, gc.sure_seeds) == (5, 50.0, 1, True)
    assert gc.component == "largest"


@pytest.mark.parametrize("size", [(224, 224), (150, 260), (260, 150)])
def test_graphcut_recovers_a_salient_coloured_object(size):
    gc = attribkit.create_localiser("graphcut")
    scores = [iou(gc.localise(rgb, s).box, box) for rgb, s, box in synthetic_images(4, size=size, seed=1)]
    assert min(scores) >= 0.5, scores


def test_graphcut_resizes_a_coarse_map():
    rgb, saliency, box = next(synthetic_images(1, size=(200, 300), seed=2))
    coarse = saliency.reshape(50, 4, 75, 4).mean(axis=(1, 3))  # a 4x coarser map
    found = attribkit.create_localiser("graphcut").localise(rgb, coarse)
    assert found.mask.shape == (200, 300)
    assert iou(found.box, box) >= 0.5


@pytest.mark.parametrize(
    "options",
    [{"components": 1}, {"smoothness": 0.0}, {"iterations": 3}, {"sure_seeds": False}, {"work_size": None},
     {"blur": 0.03}, {"component": "all"}, {"foreground_quantile": 0.8, "background_quantile": 0.5},
     {"colour_fit": "em"}, {"work_size": 64, "iterations": 2}],
)
def test_graphcut_options_still_localise(options):
    rgb, saliency, box = next(synthetic_images(1, size=(120, 160), seed=3))
    found = attribkit.create_localiser("graphcut", **options).localise(rgb, saliency)
    assert iou(found.box, box) >= 0.5


def test_smoothness_joins_a_speckled_object():
    # Heavy colour noise: the pairwise term keeps the object in one piece (never a smaller answer).
    rgb, saliency, box = next(synthetic_images(1, size=(120, 160), seed=4, noise=40.0))
    rough = GraphCut(smoothness=0.0).localise(rgb, saliency)
    smooth = GraphCut(smoothness=50.0).localise(rgb, saliency)
    assert iou(smooth.box, box) >= iou(rough.box, box) - 0.02
    assert smooth.mask.sum() >= rough.mask.sum() * 0.9


@pytest.mark.parametrize("name", ["graphcut", "threshold"])
@pytest.mark.parametrize("saliency", [np.zeros((10, 10)), np.full((10, 10), 3.0), np.full((10, 10), np.nan)])
def test_flat_map_falls_back_to_the_whole_image(name, saliency):
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    found = attribkit.create_localiser(name).localise(rgb, saliency)
    assert found.box == (0, 0, 40, 30) and found.mask.all()


@pytest.mark.parametrize("name", ["graphcut", "threshold"])
def test_bad_inputs_are_clear_errors(name):
    loc = attribkit.create_localiser(name)
    rgb = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="2-D"):
        loc.localise(rgb, np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="empty"):
        loc.localise(rgb, np.zeros((0, 8)))
    with pytest.raises(ValueError, match="infinite"):
        loc.localise(rgb, np.full((8, 8), np.inf))
    with pytest.raises(ValueError, match="RGB"):
        loc.localise(np.zeros((8, 8)), np.zeros((8, 8)))


@pytest.mark.parametrize(
    "options",
    [{"foreground_quantile": 0.3, "background_quantile": 0.3}, {"components": 0}, {"smoothness": -1},
     {"work_size": 2}, {"component": "biggest"}, {"colour_fit": "gmm"}],
)
def test_graphcut_rejects_bad_options(options):
    with pytest.raises(ValueError):
        attribkit.create_localiser("graphcut", **options)


def test_nan_marks_unknown_pixels():
    rgb, saliency, box = next(synthetic_images(1, size=(160, 160), seed=5))
    unknown = saliency.copy()
    unknown[:, :10] = np.nan  # a strip the model never saw
    found = attribkit.create_localiser("graphcut").localise(rgb, unknown)
    assert iou(found.box, box) >= 0.5


def test_threshold_hand_computed():
    m = np.zeros((20, 30))
    m[2:5, 3:9] = 1.0  # the hottest, but small
    m[10:18, 10:25] = 0.5  # larger and above 20% of the range
    found = attribkit.create_localiser("threshold").localise(np.zeros((20, 30, 3), np.uint8), m)
    assert found.box == (10, 10, 25, 18)
    found = attribkit.create_localiser("threshold", fraction=0.6).localise(np.zeros((20, 30, 3), np.uint8), m)
    assert found.box == (3, 2, 9, 5)


def test_centre_box():
    found = attribkit.create_localiser("centre", area=0.25).localise(np.zeros((100, 200, 3), np.uint8), None)
    assert found.box == (50, 25, 150, 75)
    assert found.mask.sum() == 100 * 50
    with pytest.raises(ValueError):
        attribkit.create_localiser("centre", area=0)


@pytest.mark.parametrize("name", attribkit.list_localisers())
def test_every_localiser_answers_in_the_image_grid(name):
    rgb, saliency, _ = next(synthetic_images(1, size=(90, 130), seed=6))
    found = attribkit.create_localiser(name).localise(rgb, saliency[::2, ::2])
    assert found.mask.shape == (90, 130) and found.mask.dtype == bool
    assert found.box == mask_box(found.mask)
