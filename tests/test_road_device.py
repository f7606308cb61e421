"""ROAD's imputation on the device (issue 23, item 2): the batched conjugate gradient of
``attribkit.metrics._road_solver`` against SciPy's sparse solve, called directly on the CPU, and ROAD's
curves through it; the same on CUDA where there is one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import attribkit.metrics._road as road_module
from attribkit.data import sample_photo
from attribkit.metrics import noisy_linear_imputation, removal_masks, road
from attribkit.metrics._road import FRACTIONS, imputed_on_device
from attribkit.metrics._road_solver import TOLERANCE, linear_imputation


def _photo(size: int) -> np.ndarray:
    """A real photo (skimage's chelsea) at ``size`` x ``size``, standardised like a model's input."""
    rgb = torch.as_tensor(sample_photo("chelsea")).permute(2, 0, 1)[None].double() / 255
    small = F.interpolate(rgb, size=(size, size), mode="area")[0]
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    return ((small - mean[:, None, None]) / std[:, None, None]).numpy()


def _maps(size: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "random": torch.rand(1, size, size, generator=generator),
        # Grad-CAM-like blobs: large connected removed regions, the systems that need the most steps.
        "smooth": F.interpolate(torch.rand(1, 1, 5, 5, generator=generator), size=(size, size), mode="bilinear")[0],
    }


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_the_device_solver_equals_scipy_on_a_photo_at_every_fraction(order):
    image = _photo(48)
    for name, saliency in _maps(48).items():
        masks = removal_masks(saliency, (0.0, *FRACTIONS), order=order)[0]
        batch = torch.as_tensor(image).expand(len(masks), -1, -1, -1)
        out = linear_imputation(batch, masks)
        reference = np.stack([noisy_linear_imputation(image, m.numpy(), noise=0.0) for m in masks])
        assert out.dtype == torch.float64
        assert np.abs(out.numpy() - reference).max() <= TOLERANCE, name
        np.testing.assert_array_equal(out[0].numpy(), image)    # nothing removed at 0%


def test_the_device_solver_equals_scipy_on_random_images_and_masks_with_borders():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(5, 2, 13, 17))
    removed = rng.random((5, 13, 17)) < np.array([0.05, 0.3, 0.6, 0.9, 0.99])[:, None, None]
    removed[:, 0, 0] = True
    removed[4] = True
    removed[4, 6, 8] = False                                  # one pixel kept, in the middle
    out = linear_imputation(torch.as_tensor(images), torch.as_tensor(removed))
    reference = np.stack([noisy_linear_imputation(i, m, noise=0.0) for i, m in zip(images, removed)])
    assert np.abs(out.numpy() - reference).max() <= TOLERANCE


def test_the_device_solver_reproduces_a_linear_ramp():
    rows, cols = np.mgrid[0:12, 0:15]
    image = np.stack([0.3 * rows - 0.7 * cols + 2.0, -rows + 0.5 * cols])
    removed = np.zeros((12, 15), bool)
    removed[3:9, 4:11] = True
    out = linear_imputation(torch.as_tensor(image)[None], torch.as_tensor(removed)[None])
    np.testing.assert_allclose(out[0].numpy(), image, atol=1e-8)


def test_batched_noise_is_drawn_as_one_call_per_pair_draws_it():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(4, 3, 9, 11))
    removed = rng.random((4, 9, 11)) < np.array([0.5, 0.0, 0.2, 0.7])[:, None, None]   # pair 1: none removed
    batched = imputed_on_device(torch.as_tensor(images), torch.as_tensor(removed), noise=0.3, rng=7)
    generator = np.random.default_rng(7)
    one_by_one = [noisy_linear_imputation(i, m, noise=0.3, rng=generator) for i, m in zip(images, removed)]
    assert np.abs(batched.numpy() - np.stack(one_by_one)).max() <= TOLERANCE
    np.testing.assert_array_equal(batched.numpy()[~np.broadcast_to(removed[:, None], images.shape)],
                                  images[~np.broadcast_to(removed[:, None], images.shape)])


def test_the_device_solver_errors():
    with pytest.raises(ValueError, match="every pixel"):
        linear_imputation(torch.zeros(2, 1, 3, 3), torch.tensor([[[False] * 3] * 3, [[True] * 3] * 3]))
    with pytest.raises(ValueError, match="removed"):
        linear_imputation(torch.zeros(1, 1, 3, 3), torch.zeros(1, 3, 4, dtype=torch.bool))
    removed = torch.ones(1, 30, 30, dtype=torch.bool)
    removed[0, 0, 0] = False
    with pytest.raises(RuntimeError, match="did not converge in 3"):
        linear_imputation(torch.rand(1, 1, 30, 30), removed, max_iter=3)


class _Bright(torch.nn.Module):
    """Three logits from the mean of three regions of the image: every imputed pixel moves a score."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(3.0))

    def forward(self, x):
        parts = [x[:, :, :12].mean(dim=(1, 2, 3)), x[:, :, 12:].mean(dim=(1, 2, 3)),
                 x[:, :, :, 6:18].mean(dim=(1, 2, 3))]
        return self.gain * torch.stack(parts, dim=1)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_road_through_the_device_solver_equals_the_scipy_curve(monkeypatch, order):
    x = torch.as_tensor(_photo(24)).float()[None].repeat(2, 1, 1, 1)
    x[1] = x[1].flip(-1)
    maps = torch.cat([_maps(24)["smooth"], _maps(24)["random"]])
    scipy_curve = road(_Bright(), x, maps, order=order, batch_size=5, seed=3)
    monkeypatch.setattr(road_module, "_solves_on_device", lambda device: True)
    monkeypatch.setattr("scipy.sparse.linalg.spsolve", _no_scipy)
    device_curve = road(_Bright(), x, maps, order=order, batch_size=5, seed=3)
    torch.testing.assert_close(device_curve.scores, scipy_curve.scores, rtol=0, atol=1e-5)
    assert torch.equal(device_curve.targets, scipy_curve.targets)


def _no_scipy(*args, **kwargs):
    raise AssertionError("SciPy's solver was called on the device path")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_road_on_cuda_solves_on_the_device_and_gives_the_cpu_curve(monkeypatch):
    x = torch.as_tensor(_photo(64)).float()[None].repeat(3, 1, 1, 1)
    maps = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(4))
    cpu = road(_Bright(), x, maps, batch_size=8, seed=1)
    image = torch.as_tensor(_photo(64))
    removed = maps[0] > 0.3
    reference = noisy_linear_imputation(image, removed, noise=0.01, rng=5)
    monkeypatch.setattr("scipy.sparse.linalg.spsolve", _no_scipy)
    gpu = road(_Bright().cuda(), x.cuda(), maps.cuda(), batch_size=8, seed=1)
    torch.testing.assert_close(gpu.scores.cpu(), cpu.scores, rtol=0, atol=1e-5)
    on_cuda = noisy_linear_imputation(image.cuda(), removed.cuda(), noise=0.01, rng=5)
    assert isinstance(on_cuda, np.ndarray) and np.abs(on_cuda - reference).max() <= TOLERANCE
