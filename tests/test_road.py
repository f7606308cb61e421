"""ROAD (Rong et al. 2022): noisy linear imputation, which pixels are removed, and the curve on a constructed model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attribkit.metrics import RoadCurve, noisy_linear_imputation, road
from attribkit.metrics import removal_masks
from attribkit.metrics._road import NEIGHBOURS


def _reference_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The definition, literally: a dense system with one equation per removed pixel,
    ``x_u * (sum of in-image weights) - sum over removed neighbours w x_v = sum over known neighbours w x_v``."""
    channels, height, width = image.shape
    unknown = [(r, c) for r in range(height) for c in range(width) if removed[r, c]]
    index = {p: k for k, p in enumerate(unknown)}
    a = np.zeros((len(unknown), len(unknown)))
    b = np.zeros((len(unknown), channels))
    for k, (r, c) in enumerate(unknown):
        for dy, dx, w in NEIGHBOURS:
            rr, cc = r + dy, c + dx
            if not (0 <= rr < height and 0 <= cc < width):
                continue
            a[k, k] += w
            if removed[rr, cc]:
                a[k, index[(rr, cc)]] -= w
            else:
                b[k] += w * image[:, rr, cc]
    out = image.copy()
    solution = np.linalg.solve(a, b)
    for k, (r, c) in enumerate(unknown):
        out[:, r, c] = solution[k]
    return out


def test_neighbour_weights_sum_to_one():
    assert sum(w for _, _, w in NEIGHBOURS) == pytest.approx(1.0)
    assert {(dy, dx) for dy, dx, _ in NEIGHBOURS} == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)} - {(0, 0)}


def test_linear_ramp_is_imputed_exactly_without_noise():
    rows, cols = np.mgrid[0:12, 0:15]
    image = np.stack([0.3 * rows - 0.7 * cols + 2.0, 1.5 * cols, -rows + 0.0 * cols]).astype(np.float64)
    removed = np.zeros((12, 15), bool)
    removed[3:9, 4:11] = True          # a block: neighbours are themselves imputed
    removed[1, 1] = removed[10, 13] = True
    rng = np.random.default_rng(3)
    removed[1:11, 1:14] |= rng.random((10, 13)) < 0.4   # scattered pixels, all away from the border
    out = noisy_linear_imputation(image, removed, noise=0.0)
    np.testing.assert_allclose(out, image, atol=1e-10)


def test_imputation_equals_the_dense_definition_at_the_border_too():
    rng = np.random.default_rng(0)
    image = rng.random((2, 7, 9))
    removed = rng.random((7, 9)) < 0.5
    removed[0, 0] = removed[6, 8] = True
    out = noisy_linear_imputation(image, removed, noise=0.0)
    np.testing.assert_allclose(out, _reference_imputation(image, removed), atol=1e-12)
    np.testing.assert_array_equal(out[:, ~removed], image[:, ~removed])


def test_noise_has_the_asked_scale_and_touches_only_removed_pixels():
    image = np.zeros((1, 64, 64))
    removed = np.zeros((64, 64), bool)
    removed[::2, ::2] = True
    out = noisy_linear_imputation(torch.as_tensor(image), torch.as_tensor(removed), noise=0.5, rng=1)
    assert out[0][removed].std() == pytest.approx(0.5, rel=0.1)
    assert (out[0][~removed] == 0).all()
    again = noisy_linear_imputation(image, removed, noise=0.5, rng=1)
    np.testing.assert_array_equal(out, again)


def test_imputation_errors():
    with pytest.raises(ValueError, match="every pixel"):
        noisy_linear_imputation(np.zeros((1, 3, 3)), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="image"):
        noisy_linear_imputation(np.zeros((3, 3)), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="noise"):
        noisy_linear_imputation(np.zeros((1, 3, 3)), np.eye(3, dtype=bool), noise=-1)
    unchanged = noisy_linear_imputation(np.ones((1, 3, 3)), np.zeros((3, 3), bool))
    np.testing.assert_array_equal(unchanged, np.ones((1, 3, 3)))


def test_removal_masks_take_exactly_the_top_or_bottom_fraction():
    maps = torch.randn(3, 10, 10)
    masks = removal_masks(maps, [0.0, 0.25, 0.5], order="morf")
    lows = removal_masks(maps, [0.25], order="lerf")
    for i in range(3):
        ranked = maps[i].flatten().argsort(descending=True)
        for s, count in enumerate([0, 25, 50]):
            expected = torch.zeros(100, dtype=torch.bool)
            expected[ranked[:count]] = True
            assert torch.equal(masks[i, s].flatten(), expected)
        expected = torch.zeros(100, dtype=torch.bool)
        expected[ranked[-25:]] = True
        assert torch.equal(lows[i, 0].flatten(), expected)
    with pytest.raises(ValueError, match="order"):
        removal_masks(maps, [0.1], order="top")


class _Recorder(torch.nn.Module):
    """Two logits from the mean of the image; keeps every batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        m = x.mean(dim=(1, 2, 3)) * self.scale
        return torch.stack([m, -m], dim=1)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_road_changes_exactly_the_removed_pixels(order):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    maps = torch.randn(2, 8, 8)
    model = _Recorder()
    fractions = (0.1, 0.5, 0.8)
    curve = road(model, x, maps, 0, order=order, fractions=fractions, batch_size=4)
    copies = torch.cat(model.seen[1:])      # the first call resolves the targets on the clean inputs
    assert copies.shape == (2 * 3, 3, 8, 8)
    for k, copy in enumerate(copies):
        i, s = divmod(k, 3)
        changed = (copy != x[i]).any(dim=0).flatten()
        ranked = maps[i].flatten().argsort(descending=(order == "morf"))
        expected = torch.zeros(64, dtype=torch.bool)
        expected[ranked[: round(fractions[s] * 64)]] = True
        assert torch.equal(changed, expected)
    assert isinstance(curve, RoadCurve) and curve.order == order
    assert curve.scores.shape == (2, 3) and curve.auc().shape == (2,) and curve.mean().shape == (2,)
    torch.testing.assert_close(curve.fractions, torch.tensor(fractions))


class _PatchDetector(torch.nn.Module):
    """Class 0 when the central 4x4 patch of a 16x16 image is bright: logit 12 * (patch mean - 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(12.0))

    def forward(self, x):
        evidence = self.gain * (x[:, :, 6:10, 6:10].mean(dim=(1, 2, 3)) - 0.5)
        return torch.stack([evidence, torch.zeros_like(evidence)], dim=1)


def test_a_map_on_the_evidence_falls_faster_under_morf_than_a_random_map():
    x = torch.zeros(4, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0
    evidence = torch.zeros(4, 16, 16)
    evidence[:, 6:10, 6:10] = 1.0
    evidence += 0.01 * torch.rand(4, 16, 16)     # background order does not matter
    random = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(0))
    model = _PatchDetector()
    fractions = (0.1, 0.2, 0.3, 0.5)
    good = road(model, x, evidence, 0, fractions=fractions, noise=0.01)
    bad = road(model, x, random, 0, fractions=fractions, noise=0.01)
    # Once the whole patch is gone (16 of 256 pixels: from 10% on) it is imputed from the dark
    # background; random removal leaves most patch pixels, and the removed ones are imputed from them.
    assert (good.scores < 0.01).all()
    assert (bad.scores[:, 0] > 0.9).all()
    assert (good.mean() < bad.mean() - 0.3).all()
    # LeRF with the good map removes background only: the score stays.
    kept = road(model, x, evidence, 0, order="lerf", fractions=fractions)
    assert (kept.scores > 0.99).all()
    accuracy = road(model, x, evidence, 0, fractions=fractions, score="accuracy")
    assert torch.equal(accuracy.scores, torch.zeros(4, 4))


def test_road_is_seeded_and_the_model_is_left_as_it_was():
    model = _PatchDetector().train()
    x = torch.rand(2, 3, 16, 16)
    maps = torch.rand(2, 16, 16)
    a = road(model, x, maps, fractions=(0.3, 0.6), batch_size=1, seed=5)
    b = road(model, x, maps, fractions=(0.3, 0.6), batch_size=3, seed=5)
    torch.testing.assert_close(a.scores, b.scores)
    assert model.training and model.gain.requires_grad


@pytest.mark.parametrize("kwargs, match", [
    ({"fractions": (0.5, 0.2)}, "increasing"),
    ({"fractions": (0.5, 1.0)}, "fractions"),
    ({"fractions": ()}, "fractions"),
    ({"fractions": (0.999,)}, "every pixel"),
    ({"order": "up"}, "order"),
    ({"score": "auc"}, "score"),
    ({"batch_size": 0}, "batch_size"),
    ({"noise": -0.1}, "noise"),
])
def test_road_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        road(_PatchDetector(), torch.rand(1, 1, 16, 16), torch.rand(1, 16, 16), 0, **kwargs)


def test_road_rejects_bad_shapes():
    with pytest.raises(ValueError, match="maps"):
        road(_PatchDetector(), torch.rand(1, 1, 16, 16), torch.rand(1, 8, 8), 0)
    with pytest.raises(ValueError, match="inputs"):
        road(_PatchDetector(), torch.rand(1, 16, 16), torch.rand(1, 16, 16), 0)
