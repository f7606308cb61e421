"""Sanity checks (Adebayo et al. 2018): the similarity measures, the randomisation tests, and the model left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attribkit
from attribkit.errors import OptionError
from attribkit.metrics import (
    MapSimilarity,
    Randomisation,
    data_randomisation,
    map_similarity,
    model_randomisation,
    parameter_layers,
)


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(256, 5),
    )
    with torch.no_grad():  # as if trained: batch norm away from its initial values
        norm = net[3]
        norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.1, 0.1)
        norm.running_mean.uniform_(-0.1, 0.1), norm.running_var.uniform_(0.5, 1.5)
    return net


def _saliency(model):
    return attribkit.create_attributor("saliency", model)


class _InputItself:
    """Not an explanation of anything: the input (Adebayo et al.'s point about edge detectors)."""

    def attribute(self, inputs, target=None, **_):
        return inputs.clone()


class _Edges:
    """A Sobel edge detector of the input's grey level: needs no model at all."""

    def attribute(self, inputs, target=None, **_):
        grey = inputs.mean(dim=1, keepdim=True)
        kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
        gx = torch.nn.functional.conv2d(grey, kx, padding=1)
        gy = torch.nn.functional.conv2d(grey, kx.transpose(2, 3), padding=1)
        return torch.sqrt(gx**2 + gy**2)


def test_hand_checked_rank_correlations():
    ref = torch.tensor([-3.0, 1, 2, 0.5, -1.5, 4]).view(1, 1, 2, 3)
    # Same magnitudes, every sign flipped: signed ranks reversed, absolute ranks identical.
    flipped = map_similarity(ref, -ref)
    assert flipped.spearman[0] == pytest.approx(-1.0)
    assert flipped.spearman_abs[0] == pytest.approx(1.0)
    # Ranks of ref: signed (1, 4, 5, 3, 2, 6), absolute (5, 2, 4, 1, 3, 6); of `ramp`: 1..6 both ways.
    ramp = torch.arange(1.0, 7.0).view(1, 1, 2, 3)
    result = map_similarity(ref, ramp)
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1)), n = 6: sum d^2 = 18 (signed), 30 (absolute).
    assert result.spearman[0] == pytest.approx(1 - 6 * 18 / 210)
    assert result.spearman_abs[0] == pytest.approx(1 - 6 * 30 / 210)


def test_channels_are_summed_before_ranking():
    a = torch.zeros(1, 2, 4, 4)
    a[0, 0] = torch.arange(16.0).view(4, 4)
    a[0, 1] = -2 * torch.arange(16.0).view(4, 4)      # sum = -arange: ranks reversed
    b = torch.arange(16.0).view(1, 4, 4)              # [N, H, W] is one channel
    result = map_similarity(a, b)
    assert result.spearman[0] == pytest.approx(-1.0)
    assert result.spearman_abs[0] == pytest.approx(1.0)


def test_identical_maps_score_one_and_independent_maps_near_zero():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 3, 48, 48, generator=gen)
    same = map_similarity(a, a)
    for name in ("spearman", "spearman_abs", "ssim", "hog"):
        np.testing.assert_allclose(getattr(same, name), 1.0)
    assert same.means() == pytest.approx({"spearman": 1.0, "spearman_abs": 1.0, "ssim": 1.0, "hog": 1.0})
    other = map_similarity(a, torch.randn(3, 3, 48, 48, generator=gen))
    assert np.abs(other.spearman).max() < 0.1 and np.abs(other.spearman_abs).max() < 0.1
    assert other.ssim.max() < 0.3 and other.hog.max() < 0.5


def test_ssim_and_hog_follow_scikit_image():
    from skimage.feature import hog
    from skimage.metrics import structural_similarity

    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(1, 1, 40, 40, generator=gen), torch.rand(1, 1, 40, 40, generator=gen)
    result = map_similarity(a, b)
    norm = [np.clip(m[0, 0].double().numpy() / np.percentile(m[0, 0].double().numpy(), 99), 0, 1) for m in (a, b)]
    assert result.ssim[0] == pytest.approx(structural_similarity(norm[0], norm[1], data_range=1.0))
    h = [hog(n, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3)) for n in norm]
    assert result.hog[0] == pytest.approx(np.corrcoef(h[0], h[1])[0, 1])


def test_a_constant_map_correlates_zero_with_a_map_and_nan_with_a_constant():
    # A randomised model whose units all died has a zero gradient: it has certainly changed.
    result = map_similarity(torch.zeros(2, 1, 16, 16), torch.rand(2, 1, 16, 16))
    for name in ("spearman", "spearman_abs", "hog"):
        np.testing.assert_array_equal(getattr(result, name), 0.0)
    both = map_similarity(torch.zeros(2, 1, 16, 16), torch.ones(2, 1, 16, 16))
    assert np.isnan(both.spearman).all() and np.isnan(both.hog).all()
    assert np.isnan(both.means()["spearman"])


def test_map_similarity_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same inputs"):
        map_similarity(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 9))
    with pytest.raises(ValueError, match="reference"):
        map_similarity(torch.rand(8, 8), torch.rand(8, 8))


def test_layers_are_found_top_first_in_execution_order():
    class Reordered(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(8, 3)      # registered first, runs last
            self.stem = torch.nn.Conv2d(3, 8, 3)
            self.unused = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.head(self.stem(x).mean(dim=(2, 3)))

    assert parameter_layers(_net(), torch.rand(1, 3, 8, 8)) == ("7", "3", "2", "0")
    assert parameter_layers(Reordered(), torch.rand(2, 3, 8, 8)) == ("head", "stem")


def test_gradient_saliency_loses_similarity_as_layers_are_randomised():
    model = _net()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    result = model_randomisation(model, x, None, _saliency)
    assert isinstance(result, Randomisation) and result.mode == "cascading"
    assert result.layers == ("7", "3", "2", "0")
    assert result.per_input["spearman_abs"].shape == (4, 4) and result.targets.shape == (4,)
    # Against 1 for the trained model itself: the maps of a gradient depend on every layer.
    assert (result.spearman_abs < 0.5).all() and (result.ssim < 0.5).all() and (result.hog < 0.5).all()
    independent = model_randomisation(model, x, None, _saliency, mode="independent")
    # Alone, re-initialising the batch norm (weight 1, bias 0, statistics 0 and 1) changes little here.
    assert independent.layers[1] == "3" and (independent.spearman_abs[[0, 2, 3]] < 0.5).all()


@pytest.mark.parametrize("method", [_InputItself, _Edges], ids=["input", "edges"])
@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_a_method_that_ignores_the_model_keeps_its_maps(method, mode):
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    result = model_randomisation(_net(), x, None, lambda _model: method(), mode=mode)
    for name in ("spearman", "spearman_abs", "ssim", "hog"):
        np.testing.assert_allclose(getattr(result, name), 1.0, atol=1e-12)


class _Snapshot:
    """An attributor factory that records, at each call, which layers differ from the trained model."""

    def __init__(self, model):
        self.trained = {k: v.clone() for k, v in model.state_dict().items()}
        self.changed: list[set[str]] = []

    def __call__(self, model):
        now = model.state_dict()
        self.changed.append({k.split(".")[0] for k, v in self.trained.items()
                             if v.is_floating_point() and not torch.equal(v, now[k])})
        return _saliency(model)


def test_cascading_accumulates_and_independent_randomises_one_layer_at_a_time():
    model = _net()
    x = torch.rand(2, 3, 16, 16)
    cascade = _Snapshot(model)
    model_randomisation(model, x, None, cascade)
    assert cascade.changed == [set(), {"7"}, {"7", "3"}, {"7", "3", "2"}, {"7", "3", "2", "0"}]
    single = _Snapshot(model)
    model_randomisation(model, x, None, single, mode="independent", layers=["2", "0"])
    assert single.changed == [set(), {"2"}, {"0"}]


def test_the_users_model_and_random_state_are_untouched():
    model = _net().train()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 16, 16)
    rng = torch.get_rng_state()
    first = model_randomisation(model, x, [1, 2], _saliency, seed=3)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and all(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[2].weight.requires_grad
    assert torch.equal(torch.get_rng_state(), rng)
    again = model_randomisation(model, x, [1, 2], _saliency, seed=3)
    np.testing.assert_array_equal(first.per_input["spearman"], again.per_input["spearman"])
    np.testing.assert_array_equal(first.targets, [1, 2])


def test_a_block_name_randomises_everything_inside_it():
    model = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3)),
                                torch.nn.Flatten(), torch.nn.LazyLinear(3))
    model(torch.rand(1, 3, 8, 8))
    snap = _Snapshot(model)
    result = model_randomisation(model, torch.rand(1, 3, 8, 8), 0, snap, layers=["0"])
    assert result.layers == ("0",) and snap.changed[1] == {"0"}
    assert torch.equal(snap.trained["0.0.weight"], model[0][0].weight)   # the user's copy still trained


def test_bad_layers_and_modes_are_option_errors():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(OptionError, match="no layer 'classifier'"):
        model_randomisation(_net(), x, 0, _saliency, layers=["classifier"])
    with pytest.raises(OptionError, match="'1'.*no parameters"):
        model_randomisation(_net(), x, 0, _saliency, layers=["1"])
    with pytest.raises(OptionError, match="mode"):
        model_randomisation(_net(), x, 0, _saliency, mode="top-down")
    with pytest.raises(ValueError, match="inputs"):
        model_randomisation(_net(), torch.rand(3, 8, 8), 0, _saliency)


def test_data_randomisation_compares_the_two_models_maps():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    trained, other = _net(0), _net(1)
    same = data_randomisation(trained, trained, x, None, _saliency)
    assert isinstance(same, MapSimilarity)
    assert same.means() == pytest.approx({"spearman": 1.0, "spearman_abs": 1.0, "ssim": 1.0, "hog": 1.0})
    differs = data_randomisation(trained, other, x, None, _saliency)
    assert differs.means()["spearman_abs"] < 0.5
    edges = data_randomisation(trained, other, x, None, lambda _m: _Edges())
    assert edges.means()["ssim"] == pytest.approx(1.0)
