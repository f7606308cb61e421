"""Deletion/insertion curves (Petsiuk et al. 2018) against hand-computed curves and a naive reference."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import attribkit
from attribkit.metrics import auc, blur, deletion_curve, insertion_curve

from conftest import tiny_cnn


class PixelSum(torch.nn.Module):
    """One logit: the sum of all input values (a model whose curves are easy to compute by hand)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(1, 2, 3)).unsqueeze(1)


class TwoClass(PixelSum):
    """Logits ``[s, 0]``: the softmax probability of class 0 is ``sigmoid(s)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = super().forward(x)
        return torch.cat([s, torch.zeros_like(s)], dim=1)


X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)  # [1, 1, 2, 2]
SAL = torch.tensor([[[0.1, 0.2], [0.3, 0.4]]], dtype=torch.float64)   # most salient: 4, 3, 2, 1


def test_deletion_curve_by_hand():
    curve = deletion_curve(PixelSum(), X, SAL, steps=4, substrate=0.0, score="logit")
    torch.testing.assert_close(curve.fractions, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    torch.testing.assert_close(curve.scores, torch.tensor([[10.0, 6, 3, 1, 0]], dtype=torch.float64))
    # trapezoid: 0.25 * (10/2 + 6 + 3 + 1 + 0/2)
    torch.testing.assert_close(curve.auc(), torch.tensor([3.75], dtype=torch.float64))
    assert curve.targets.tolist() == [0]


def test_insertion_curve_by_hand():
    curve = insertion_curve(PixelSum(), X, SAL, steps=4, substrate=0.0, score="logit")
    torch.testing.assert_close(curve.scores, torch.tensor([[0.0, 4, 7, 9, 10]], dtype=torch.float64))
    torch.testing.assert_close(curve.auc(), torch.tensor([6.25], dtype=torch.float64))


def test_probability_curve_and_uneven_steps_by_hand():
    # 4 pixels in 3 steps: round(0), round(4/3)=1, round(8/3)=3, 4 pixels deleted.
    curve = deletion_curve(TwoClass(), X, SAL, target=0, steps=3, substrate=0.0)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    want = [sig(10), sig(6), sig(1), sig(0)]
    torch.testing.assert_close(curve.scores[0], torch.tensor(want, dtype=torch.float64))
    torch.testing.assert_close(curve.fractions, torch.tensor([0, 0.25, 0.75, 1], dtype=torch.float64))
    area = 0.25 * (want[0] + want[1]) / 2 + 0.5 * (want[1] + want[2]) / 2 + 0.25 * (want[2] + want[3]) / 2
    assert curve.auc().item() == pytest.approx(area)


def test_ties_are_broken_by_pixel_order():
    flat = torch.zeros(1, 2, 2, dtype=torch.float64)
    curve = deletion_curve(PixelSum(), X, flat, steps=4, score="logit")
    torch.testing.assert_close(curve.scores, torch.tensor([[10.0, 9, 7, 4, 0]], dtype=torch.float64))


def test_auc_by_hand():
    assert auc(torch.tensor([1.0, 0.5, 0.0])).item() == pytest.approx(0.5)
    assert auc(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.5])).item() == pytest.approx(0.25)
    torch.testing.assert_close(auc(torch.ones(3, 5)), torch.ones(3))
    with pytest.raises(ValueError, match="two points"):
        auc(torch.tensor([1.0]))


def naive_curve(model, x, sal, target, steps, substrate, insert):
    """One image, one step at a time, pixels sorted in Python: the specification."""
    n, c, h, w = x.shape
    rows = []
    for i in range(n):
        order = sorted(range(h * w), key=lambda p: (-float(sal[i].flatten()[p]), p))
        row = []
        for s in range(steps + 1):
            k = round(s * h * w / steps)
            chosen = torch.zeros(h * w, dtype=torch.bool)
            chosen[order[:k]] = True
            chosen = chosen.view(1, h, w)
            img = torch.where(chosen, x[i], substrate[i]) if insert else torch.where(chosen, substrate[i], x[i])
            row.append(model(img.unsqueeze(0)).softmax(1)[0, target[i]].item())
        rows.append(row)
    return torch.tensor(rows, dtype=x.dtype)


@pytest.mark.parametrize("insert", [False, True])
def test_batched_equals_naive_reference(insert):
    model = tiny_cnn().eval()
    torch.manual_seed(3)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    sal = torch.rand(3, 8, 8, dtype=torch.float64)
    target = torch.tensor([1, 4, 7])
    fn = insertion_curve if insert else deletion_curve
    substrate = blur(x) if insert else torch.zeros_like(x)
    curve = fn(model, x, sal, target, steps=7, batch_size=5)
    want = naive_curve(model, x, sal, target, 7, substrate, insert)
    torch.testing.assert_close(curve.scores, want)
    again = fn(model, x, sal, target, steps=7, batch_size=1000)
    torch.testing.assert_close(again.scores, curve.scores, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_endpoints(steps, seed):
    """Deletion starts at the image's score and ends at the substrate's; insertion the other way round."""
    model = tiny_cnn().eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, generator=g)
    sal = torch.rand(2, 6, 6, dtype=torch.float64, generator=g)
    d = deletion_curve(model, x, sal, steps=steps, substrate=0.5)
    i = insertion_curve(model, x, sal, steps=steps, substrate=0.5)
    with torch.no_grad():
        full = model(x).softmax(1).gather(1, d.targets[:, None])[:, 0]
        empty = model(torch.full_like(x, 0.5)).softmax(1).gather(1, d.targets[:, None])[:, 0]
    torch.testing.assert_close(d.scores[:, 0], full)
    torch.testing.assert_close(d.scores[:, -1], empty)
    torch.testing.assert_close(i.scores[:, 0], empty)
    torch.testing.assert_close(i.scores[:, -1], full)
    assert d.scores.shape == (2, steps + 1)


def test_model_mode_restored_and_errors():
    model = tiny_cnn().train()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"saliency must be \[N, H, W\]"):
        deletion_curve(model, x, torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="steps"):
        deletion_curve(model, x, torch.rand(1, 8, 8), steps=0)
    with pytest.raises(ValueError, match="substrate"):
        insertion_curve(model, x, torch.rand(1, 8, 8), substrate="noise")
    with pytest.raises(ValueError, match="one class per image"):
        deletion_curve(model, x, torch.rand(1, 8, 8), target=[[1, 2]])
    with pytest.raises(attribkit.TargetError):
        deletion_curve(model, x, torch.rand(1, 8, 8), target=10)
    assert model.training


def test_random_attributor_contract():
    model = tiny_cnn()
    rnd = attribkit.create_attributor("random", model, seed=3)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    a = rnd.attribute(x)
    assert a.shape == x.shape and a.dtype == x.dtype and (a >= 0).all() and (a < 1).all()
    torch.testing.assert_close(a, rnd.attribute(x))            # repeatable
    assert not torch.equal(a[0], a[1])                          # different per image
    assert not torch.equal(a, attribkit.create_attributor("random", model, seed=4).attribute(x))
    assert rnd.attribute(x, top_k=3).shape == (2, 3, 3, 8, 8)


def test_saliency_beats_random_on_a_real_photo(default_model, chelsea):
    """The point of the baseline: the paper's saliency deletes the cat faster than a random order."""
    x = attribkit.load_image(chelsea, default_model).tensor
    aucs = {}
    for name in ("saliency", "random"):
        sal = attribkit.saliency_map(attribkit.create_attributor(name, default_model).attribute(x, target=285))
        aucs[name] = (deletion_curve(default_model, x, sal, 285, steps=12).auc().item(),
                      insertion_curve(default_model, x, sal, 285, steps=12).auc().item())
    assert aucs["saliency"][0] < aucs["random"][0]
    assert aucs["saliency"][1] > aucs["random"][1]


def test_blur_equals_torchvision_gaussian_blur():
    from torchvision.transforms.functional import gaussian_blur

    x = torch.randn(2, 3, 20, 17, dtype=torch.float64)
    torch.testing.assert_close(blur(x), gaussian_blur(x, [11, 11], [5.0, 5.0]))
    torch.testing.assert_close(blur(x, kernel_size=3, sigma=0.7), gaussian_blur(x, [3, 3], [0.7, 0.7]))
    with pytest.raises(ValueError, match="odd kernel_size"):
        blur(x, kernel_size=4)
