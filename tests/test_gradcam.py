"""The built-in Grad-CAM against Captum's LayerGradCam and a naive re-derivation of its equations."""

from __future__ import annotations

import pytest
import torch
import torchvision

import attribkit
from attribkit.attribution import GradCAM
from attribkit.attribution._cam import as_feature_map, default_layer_name
from attribkit.errors import OptionError


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=7).eval()


def naive_gradcam(model, layer, x, c):
    """Equations 1-2 written out with a hook, one class at a time."""
    store = {}
    h = layer.register_forward_hook(lambda m, i, o: store.update(a=o))
    x = x.clone().requires_grad_(True)
    score = model(x)[:, c].sum()
    h.remove()
    (g,) = torch.autograd.grad(score, store["a"])
    cam = torch.relu((g.mean((2, 3), keepdim=True) * store["a"]).sum(1, keepdim=True))
    return torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False).detach()


def test_equals_captum_and_the_naive_equations(net):
    captum = pytest.importorskip("captum.attr")
    x = torch.randn(2, 3, 64, 64)
    ours = GradCAM(net).attribute(x, target=[3, 5])
    theirs = captum.LayerAttribution.interpolate(
        captum.LayerGradCam(net, net.layer4).attribute(x, target=[3, 5], relu_attributions=True), (64, 64),
        interpolate_mode="bilinear")
    assert ours.shape == (2, 1, 64, 64)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours[:1], naive_gradcam(net, net.layer4, x[:1], 3), rtol=1e-5, atol=1e-6)


def test_k_classes_equal_k_single_calls(net):
    x = torch.randn(2, 3, 48, 48)
    cam = GradCAM(net)
    both = cam.attribute(x, target=[[1, 2], [4, 0]])
    assert both.shape == (2, 2, 1, 48, 48)
    torch.testing.assert_close(both[:, 0], cam.attribute(x, target=[1, 4]))
    torch.testing.assert_close(both[:, 1], cam.attribute(x, target=[2, 0]))
    assert cam.attribute(x, top_k=3).shape == (2, 3, 1, 48, 48)


def test_signed_map_and_layer_choice(net):
    x = torch.randn(1, 3, 48, 48)
    signed = GradCAM(net, relu=False, layer="layer3").attribute(x, target=2)
    assert (signed < 0).any() and default_layer_name(net) == "layer4"
    with pytest.raises(OptionError, match="no layer 'layer5'. Did you mean 'layer4'"):
        GradCAM(net, layer="layer5")


def test_registered_and_through_saliency(net):
    assert "gradcam" in attribkit.list_attributors()
    model = attribkit.load_model()
    found = attribkit.saliency(model, attribkit.data.sample_photo("chelsea"), method="gradcam", top_k=2)
    assert found.maps.shape == (2, 224, 224) and (found.maps >= 0).all() and found.maps.max() > 0


def test_tokens_become_a_grid():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)  # class token + 2x2 grid
    grid = as_feature_map(tokens, "blocks")
    assert grid.shape == (2, 3, 2, 2) and grid[0, :, 0, 0].tolist() == tokens[0, 1].tolist()
    with pytest.raises(OptionError, match=r"shape \(2, 6, 3\)"):
        as_feature_map(torch.zeros(2, 6, 3), "blocks")


def test_no_hook_or_mode_left_behind_after_an_exception(net):
    net.train()
    before = [p.requires_grad for p in net.parameters()]

    class Boom(Exception):
        pass

    def fail(*_):
        raise Boom

    h = net.fc.register_forward_hook(fail)
    try:
        with pytest.raises(Boom):
            GradCAM(net).attribute(torch.randn(1, 3, 32, 32), target=0)
    finally:
        h.remove()
    assert net.training and [p.requires_grad for p in net.parameters()] == before
    assert not net.layer4._forward_hooks
    net.eval()
