"""Registry-driven: every registered attributor (built-in or installed plugin) keeps the attribute()
contract's shapes, so a new plugin is tested for free."""

from __future__ import annotations

import pytest
import torch

import attribkit
from attribkit.transformers import explains_transformers_only

from conftest import tiny_cnn, tiny_vit

ATTRIBUTORS = attribkit.build_registry().names("attributor")


@pytest.mark.parametrize("name", ATTRIBUTORS)
def test_attribute_contract_shapes(name):
    model = tiny_vit() if explains_transformers_only(name) else tiny_cnn()
    attributor = attribkit.create_attributor(name, model)
    assert isinstance(attributor, attribkit.Attributor)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    one = attributor.attribute(x)
    assert one.shape[0] == 2 and one.shape[-2:] == (16, 16) and one.shape[1] in (1, 3)
    channels = one.shape[1]
    assert attributor.attribute(x, target=4).shape == (2, channels, 16, 16)
    assert attributor.attribute(x, target=[1, 2]).shape == (2, channels, 16, 16)
    assert attributor.attribute(x, target=[[1, 2, 3], [4, 5, 6]]).shape == (2, 3, channels, 16, 16)
    assert attributor.attribute(x, top_k=2).shape == (2, 2, channels, 16, 16)
    assert attribkit.saliency_map(one).shape == (2, 16, 16)
    with pytest.raises(attribkit.TargetError):
        attributor.attribute(x, target=10)


VISUALISERS = attribkit.build_registry().names("visualiser")


@pytest.mark.parametrize("name", VISUALISERS)
def test_visualise_contract(name):
    """Every registered visualiser: ``[K, 3, H, W]`` displayable images for K classes, and the model's
    mode and ``requires_grad`` flags as they were (also after an exception)."""
    model = tiny_cnn().float().train()
    flags = [p.requires_grad for p in model.parameters()]
    visualiser = attribkit.create_visualiser(name, model, steps=2, size=(16, 16), progress=False)
    assert isinstance(visualiser, attribkit.Visualiser)
    images = visualiser.visualise([1, 4])
    assert images.shape == (2, 3, 16, 16)
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    with pytest.raises(attribkit.TargetError):
        visualiser.visualise([10])
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
