"""Captum agrees where its ``nn.ReLU`` hooks see every ReLU, and silently falls back to the gradient elsewhere."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_nets import build, inputs, specs

import attribkit

captum_attr = pytest.importorskip("captum.attr")

# Captum's own chatter about the hooks it sets and the inputs it marks.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU"),
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients"),
]

METHODS = {"deconvnet": "Deconvolution", "guided_backprop": "GuidedBackprop"}


def _ours(name: str, net: torch.nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    return attribkit.create_attributor(name, net).attribute(x, target=target)


def _captum(name: str, net: torch.nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    return getattr(captum_attr, METHODS[name])(net).attribute(x, target=target)


@settings(max_examples=25, deadline=None)
@given(spec=specs(), seed=st.integers(0, 2**16), name=st.sampled_from(sorted(METHODS)))
def test_equal_to_captum_on_networks_of_relu_modules(spec, seed, name):
    net = build(spec, "module", seed)
    x = inputs(spec, seed, 2.0)
    target = seed % spec.classes
    torch.testing.assert_close(_ours(name, net, x, target), _captum(name, net, x, target),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("spelling", ["F.relu", "Tensor.relu", "ReLU6"])
def test_captum_falls_back_to_the_gradient_where_we_do_not(name, spelling):
    from rules_nets import Layer, Spec

    spec = Spec(3, 8, (Layer("conv", 6, 3, act=True), Layer("maxpool"), Layer("conv", 4, 3, act=True)),
                (Layer("linear", 10, act=True),), 5)
    net = build(spec, spelling, seed=11)
    x = inputs(spec, 12, 2.0 if spelling != "ReLU6" else 8.0)
    gradient = attribkit.create_attributor("saliency", net).attribute(x, target=2)
    captum = _captum(name, net, x, 2)
    ours = _ours(name, net, x, 2)
    # Captum hooks nn.ReLU modules only: here it silently returns the plain gradient ...
    torch.testing.assert_close(captum, gradient)
    # ... while the engine applies the rule, exactly as on the same network written with nn.ReLU
    # (compared against the naive reference in test_rules_properties).
    assert not torch.allclose(ours, gradient)
    if spelling != "ReLU6":
        module_net = build(spec, "module", seed=11)
        torch.testing.assert_close(ours, _captum(name, module_net, x, 2))
