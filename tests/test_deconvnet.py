"""The ``deconvnet`` and ``guided_backprop`` plugins: the ``attribute()`` contract of ``saliency``, and real models."""

from __future__ import annotations

import pytest
import torch

import attribkit
import attribkit.rules
from attribkit.rules import UnsupportedActivationError

NAMES = ["deconvnet", "guided_backprop"]


def test_registered_as_built_in_plugins():
    names = attribkit.list_attributors()
    assert set(NAMES) <= set(names)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_follow_the_target(name, tiny_model):
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    a = attribkit.create_attributor(name, tiny_model)
    assert a.attribute(x).shape == (3, 3, 16, 16)
    assert a.attribute(x, target=4).shape == (3, 3, 16, 16)
    assert a.attribute(x, target=[1, 2, 3]).shape == (3, 3, 16, 16)
    assert a.attribute(x, top_k=4).shape == (3, 4, 3, 16, 16)
    assert attribkit.saliency_map(a.attribute(x, top_k=2)).shape == (3, 2, 16, 16)


@pytest.mark.parametrize("name", NAMES)
def test_k_targets_in_one_batched_backward_equal_k_single_ones(name, tiny_model):
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    a = attribkit.create_attributor(name, tiny_model)
    targets = torch.tensor([[0, 5, 9], [3, 3, 1]])
    batched = a.attribute(x, target=targets)
    for k in range(3):
        torch.testing.assert_close(batched[:, k], a.attribute(x, target=targets[:, k]), rtol=1e-10, atol=1e-12)
    top = a.attribute(x, top_k=3)
    with torch.no_grad():
        order = tiny_model.eval()(x).topk(3, dim=1).indices
    torch.testing.assert_close(top, a.attribute(x, target=order))


@pytest.mark.parametrize("name", NAMES)
def test_ten_crop_runs_under_the_rule(name, tiny_model):
    x = torch.randn(2, 3, 20, 20, dtype=torch.float64)
    ruled = attribkit.create_attributor(name, tiny_model, ten_crop=True).attribute(x, target=1)
    plain = attribkit.create_attributor("saliency", tiny_model, ten_crop=True).attribute(x, target=1)
    assert ruled.shape == plain.shape == x.shape
    assert not torch.allclose(ruled, plain)


def test_guided_is_deconvnet_masked_by_the_forward_switch(tiny_model):
    # Where guided backprop passes a non-zero signal, so do DeconvNet and the gradient (it needs both).
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    guided = attribkit.create_attributor("guided_backprop", tiny_model).attribute(x, target=2)
    assert not torch.equal(guided, torch.zeros_like(guided))


def test_uncovered_activation_option_reaches_the_rule():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.SELU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 3))
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(UnsupportedActivationError, match="SELU"):
        attribkit.create_attributor("deconvnet", net, unsupported="raise").attribute(x)
    with pytest.warns(attribkit.rules.UnsupportedActivationWarning):
        attribkit.create_attributor("deconvnet", net).attribute(x)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")
def test_default_model_relu6_is_ruled_not_silently_the_gradient(default_model, chelsea):
    """EfficientNet-Lite0 has only ReLU6 (``nn.ReLU6(inplace=True)``): hooks on nn.ReLU would see none."""
    x = attribkit.load_image(chelsea, default_model).tensor
    saliency = attribkit.create_attributor("saliency", default_model).attribute(x)
    deconv = attribkit.create_attributor("deconvnet", default_model).attribute(x)
    guided = attribkit.create_attributor("guided_backprop", default_model).attribute(x)
    with attribkit.rules.applied(attribkit.rules.DeconvNet(), default_model) as active:
        default_model(x.clone().requires_grad_(True))
    assert active.replaced == sum(isinstance(m, torch.nn.ReLU6) for m in default_model.modules()) > 0
    assert active.not_covered == []
    for other in (deconv, guided):
        cos = torch.nn.functional.cosine_similarity(other.flatten(), saliency.flatten(), dim=0)
        assert cos < 0.9, float(cos)
    # Captum's hooks on nn.ReLU see none of the model's ReLU6: its "DeconvNet" is the plain gradient.
    captum_attr = pytest.importorskip("captum.attr")
    with torch.no_grad():
        cls = int(default_model(x).argmax())
    captum = captum_attr.Deconvolution(default_model).attribute(x.clone().requires_grad_(True), target=cls)
    torch.testing.assert_close(captum, saliency, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_demo_step_writes_the_side_by_side_png(tmp_path, capsys):
    from PIL import Image

    from attribkit.cli import main

    assert main(["demo", "--out", str(tmp_path), "--photos", "coffee", "--steps", "deconvnet"]) == 0
    png = tmp_path / "coffee_deconvnet.png"
    assert str(png) in capsys.readouterr().out
    # Photo and three maps side by side, in one row (issue 15 added a caption line under them).
    width, height = Image.open(png).size
    assert width > 4 * 224 and height < 2 * 224
