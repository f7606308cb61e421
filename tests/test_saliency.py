"""Saliency (paper section 3) against naive autograd and Captum; targets, 10-crop, mode restoration."""

from __future__ import annotations

import pytest
import torch

import attribkit
from attribkit import TargetError, saliency_map
from conftest import tiny_cnn


def naive_gradient(model: torch.nn.Module, x: torch.Tensor, cls: int) -> torch.Tensor:
    """One image, one class, one backward: the definition w = dS_c/dI at I_0 (model in eval mode)."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x[None])[0, cls], x)
    return grad


@pytest.fixture
def batch() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(3, 3, 16, 16, dtype=torch.float64)


@pytest.fixture
def sal(tiny_model):
    return attribkit.create_attributor("saliency", tiny_model)


def test_single_int_target(sal, tiny_model, batch):
    grads = sal.attribute(batch, target=4)
    assert grads.shape == batch.shape
    for n in range(3):
        assert torch.allclose(grads[n], naive_gradient(tiny_model, batch[n], 4), atol=1e-6)


def test_per_image_targets(sal, tiny_model, batch):
    targets = [1, 7, 3]
    for spelling in (targets, torch.tensor(targets), tuple(targets)):
        grads = sal.attribute(batch, target=spelling)
        for n, c in enumerate(targets):
            assert torch.allclose(grads[n], naive_gradient(tiny_model, batch[n], c), atol=1e-6)


def test_n_by_k_targets_are_batched(sal, tiny_model, batch):
    targets = torch.tensor([[0, 5], [9, 9], [2, 3]])
    grads = sal.attribute(batch, target=targets)
    assert grads.shape == (3, 2, 3, 16, 16)
    for n in range(3):
        for k in range(2):
            ref = naive_gradient(tiny_model, batch[n], int(targets[n, k]))
            assert torch.allclose(grads[n, k], ref, atol=1e-6)


@pytest.mark.parametrize("batched", [True, False])
def test_batched_and_looped_backward_agree(tiny_model, batch, batched):
    targets = torch.tensor([[0, 5, 2], [9, 9, 1], [2, 3, 4]])
    sal = attribkit.create_attributor("saliency", tiny_model, batched_backward=batched)
    grads = sal.attribute(batch, target=targets)
    for n in range(3):
        for k in range(3):
            ref = naive_gradient(tiny_model, batch[n], int(targets[n, k]))
            assert torch.allclose(grads[n, k], ref, atol=1e-6)


def test_k_targets_cost_one_forward(sal, tiny_model, batch):
    calls = []
    handle = tiny_model.register_forward_hook(lambda *a: calls.append(1))
    try:
        sal.attribute(batch, top_k=4)
    finally:
        handle.remove()
    assert len(calls) == 1


def test_default_target_and_top_k_follow_the_model(sal, tiny_model, batch):
    with torch.no_grad():
        scores = tiny_model.eval()(batch)
    top1 = sal.attribute(batch)
    for n in range(3):
        assert torch.allclose(top1[n], naive_gradient(tiny_model, batch[n], int(scores[n].argmax())), atol=1e-6)
    top3 = sal.attribute(batch, top_k=3)
    order = scores.topk(3).indices
    for n in range(3):
        for k in range(3):
            ref = naive_gradient(tiny_model, batch[n], int(order[n, k]))
            assert torch.allclose(top3[n, k], ref, atol=1e-6)


def test_equals_captum_saliency_before_channel_reduction(sal, tiny_model, batch):
    captum = pytest.importorskip("captum.attr")
    targets = [2, 0, 8]
    ours = sal.attribute(batch, target=targets).abs()
    theirs = captum.Saliency(tiny_model.eval()).attribute(batch.clone().requires_grad_(), target=targets, abs=True)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_saliency_map_is_max_abs_over_channels():
    a = torch.tensor([[[[1.0, -4.0]], [[-3.0, 2.0]], [[2.0, 0.5]]]])  # [1, 3, 1, 2]
    assert saliency_map(a).tolist() == [[[3.0, 4.0]]]
    five = torch.randn(2, 4, 3, 5, 6)
    assert saliency_map(five).shape == (2, 4, 5, 6)
    with pytest.raises(ValueError):
        saliency_map(torch.zeros(3, 4))


def test_ten_crop_matches_a_naive_loop(tiny_model):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    got = attribkit.create_attributor("saliency", tiny_model, ten_crop=True).attribute(x, target=[1, 2])
    assert got.shape == x.shape
    s = 28  # round(32 * 224/256)
    total = torch.zeros_like(x)
    cover = torch.zeros(32, 32, dtype=torch.float64)
    for y0, x0 in [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]:
        for flip in (False, True):
            for n, c in enumerate([1, 2]):
                crop = x[n, :, y0:y0 + s, x0:x0 + s]
                crop = crop.flip(-1) if flip else crop
                g = naive_gradient(tiny_model, crop, c)
                total[n, :, y0:y0 + s, x0:x0 + s] += g.flip(-1) if flip else g
            cover[y0:y0 + s, x0:x0 + s] += 1
    assert torch.allclose(got, total / cover, atol=1e-6)


def test_ten_crop_with_top_k(tiny_model):
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    got = attribkit.create_attributor("saliency", tiny_model, ten_crop=True).attribute(x, top_k=2)
    assert got.shape == (1, 2, 3, 32, 32)


@pytest.mark.parametrize(
    "target, message",
    [
        (10, "out of range"),
        (-1, "out of range"),
        ([1, 2], "2 entries but the batch has 3"),
        ([[1, 2], [3, 4]], "does not fit a batch of 3"),
        (1.5, "integer class indices"),
        (torch.tensor([0.0, 1.0, 2.0]), "integer class indices"),
        (True, "not a bool"),
        ("cat", "integer class indices|must be an int"),
        (torch.zeros(3, 1, 1, dtype=torch.long), "at most 2 dimensions"),
    ],
)
def test_bad_targets_give_clear_errors(sal, batch, target, message):
    with pytest.raises(TargetError, match=message):
        sal.attribute(batch, target=target)


def test_bad_top_k_and_inputs(sal, batch):
    with pytest.raises(TargetError, match="top_k"):
        sal.attribute(batch, top_k=0)
    with pytest.raises(TargetError, match="either target or top_k"):
        sal.attribute(batch, target=1, top_k=2)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        sal.attribute(batch[0])
    with pytest.raises(TypeError, match="torch.Tensor"):
        sal.attribute(batch.numpy())
    with pytest.raises(TypeError, match="nn.Module"):
        attribkit.create_attributor("saliency", "not a model")


class Exploding(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        self.net(x)
        raise RuntimeError("boom")


def test_mode_and_flags_restored_after_success_and_exception(batch):
    model = tiny_cnn()
    model.train()
    model[0].weight.requires_grad_(False)  # a mixed set of flags must come back exactly
    before = [p.requires_grad for p in model.parameters()]
    attribkit.create_attributor("saliency", model).attribute(batch, target=1)
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == before

    exploding = Exploding(model).train()
    with pytest.raises(RuntimeError, match="boom"):
        attribkit.create_attributor("saliency", exploding).attribute(batch, target=1)
    assert exploding.training and all(m.training for m in exploding.modules())
    assert [p.requires_grad for p in model.parameters()] == before
    assert all(p.grad is None for p in model.parameters())


def test_model_is_evaluated_in_eval_mode_unless_asked(batch):
    model = tiny_cnn().train()
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(m.training))
    attribkit.create_attributor("saliency", model).attribute(batch, target=0)
    attribkit.create_attributor("saliency", model, eval_mode=False).attribute(batch, target=0)
    assert seen == [False, True]


def test_additional_forward_args_reach_the_model(batch):
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tiny_cnn()

        def forward(self, x, scale):
            return self.net(x) * scale

    model = Scaled()
    g1 = attribkit.create_attributor("saliency", model).attribute(batch, target=1, additional_forward_args=(1.0,))
    g3 = attribkit.create_attributor("saliency", model).attribute(batch, target=1, additional_forward_args=(3.0,))
    assert torch.allclose(g3, 3 * g1)


def test_gradient_does_not_leak_into_the_input(sal, batch):
    x = batch.clone().requires_grad_(True)
    sal.attribute(x, target=1)
    assert x.grad is None


def test_default_model_saliency_is_on_the_cat(default_model, chelsea):
    """A real photo: the top-1 map of chelsea is concentrated on the cat rather than uniform."""
    image = attribkit.load_image(chelsea, default_model)
    grads = attribkit.create_attributor("saliency", default_model).attribute(image.tensor, top_k=5)
    assert grads.shape == (1, 5, 3, 224, 224)
    maps = saliency_map(grads)[0]
    assert torch.isfinite(maps).all() and (maps.flatten(1).amax(1) > 0).all()
    # Five different classes give five different maps.
    assert not torch.allclose(maps[0], maps[1])
