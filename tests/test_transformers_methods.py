"""The transformer methods (issue 21, items 2-3): every method on every family through the public calls,
K classes from one forward pass, batch-composition invariance, rows of rollout summing to 1, nothing left
behind (also after an exception), one clear error for a CNN, declared options."""

from __future__ import annotations

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from vit_families import FAMILIES, build, inputs

import attribkit
from attribkit.errors import ModelError, OptionError, TargetError
from attribkit.transformers import rollout

METHODS = ("rollout", "attention_flow", "gradient_rollout", "legrad")
SLOW = {("attention_flow", "timm_vit"), ("attention_flow", "timm_deit_distilled")}


def _cases():
    for family in sorted(FAMILIES):
        for method in METHODS:
            marks = [pytest.mark.slow] if (method, family) in SLOW else []
            yield pytest.param(family, method, marks=marks, id=f"{family}-{method}")


@pytest.fixture(scope="module")
def models():
    return {family: build(family) for family in FAMILIES}


@pytest.mark.parametrize("family,method", list(_cases()))
def test_saliency_and_localise_on_every_family(models, chelsea, family, method):
    model = models[family]
    maps = attribkit.saliency(model, chelsea, method=method, top_k=2)
    side = FAMILIES[family]
    assert maps.maps.shape == (2, side, side) and maps.photo_maps.shape[1:] == chelsea.shape[:2]
    assert (maps.maps >= 0).all() and maps.maps.max() > 0
    boxes = attribkit.localise(model, chelsea, attributor=method)
    assert len(boxes) == 1 and boxes[0].box is not None


@pytest.mark.parametrize("method", ["rollout", "gradient_rollout", "legrad"])
@pytest.mark.parametrize("family", ["timm_deit_distilled", "torchvision_vit", "hf_vit_sdpa"])
def test_invariant_to_the_batch_it_comes_in(models, family, method):
    model, x = models[family], inputs(family, batch=3)
    attributor = attribkit.create_attributor(method, model)
    together = attributor.attribute(x, target=[[1, 2], [3, 4], [5, 6]])
    alone = attributor.attribute(x[1:2], target=[[3, 4]])
    shuffled = attributor.attribute(x[[2, 1]], target=[[5, 6], [3, 4]])
    torch.testing.assert_close(alone[0], together[1], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(shuffled[1], together[1], rtol=1e-4, atol=1e-7)


def test_attention_flow_is_invariant_to_the_batch_too(models):
    model, x = models["hf_vit_eager"], inputs("hf_vit_eager", batch=2)
    flow = attribkit.create_attributor("attention_flow", model)
    torch.testing.assert_close(flow.attribute(x[1:])[0], flow.attribute(x)[1], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", ["gradient_rollout", "legrad"])
def test_k_classes_cost_one_forward_pass(models, method):
    model, x = models["torchvision_vit"], inputs("torchvision_vit")
    calls = []
    handle = model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        attributor = attribkit.create_attributor(method, model)
        three = attributor.attribute(x, top_k=3)
    finally:
        handle.remove()
    assert len(calls) == 1 and three.shape == (2, 3, 1, 224, 224)
    torch.testing.assert_close(three[:, 1], attributor.attribute(x, target=three.new_tensor(0).long() +
                                                                 _top(model, x)[:, 1]))
    assert not torch.allclose(three[:, 0], three[:, 1])


def _top(model, x):
    with torch.no_grad():
        return model(x).topk(3, dim=1).indices


def _state(model):
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    return (hooks, [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [getattr(m, "fused_attn", None) for m in model.modules()],
            len(torch.overrides._get_current_function_mode_stack()))


@pytest.mark.parametrize("method", METHODS)
def test_nothing_is_left_behind_also_after_an_exception(method):
    model = build("hf_vit_sdpa").train()
    x = inputs("hf_vit_sdpa")
    before = _state(model)
    attributor = attribkit.create_attributor(method, model)
    attributor.attribute(x, top_k=2)
    assert _state(model) == before
    with pytest.raises(TargetError):
        attributor.attribute(x, target=99)  # raised after the forward pass
    assert _state(model) == before

    def boom(*_):
        raise RuntimeError("boom in block 1")

    handle = model.vit.layers[1].register_forward_hook(boom)
    during = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        attributor.attribute(x)
    assert _state(model) == during
    handle.remove()
    assert _state(model) == before


@pytest.mark.parametrize("method", METHODS)
def test_a_cnn_gets_one_clear_error(method):
    with pytest.raises(ModelError, match=rf"^{method} explains vision transformers only: ResNet has no attention "
                                         r"layer attribkit knows \(looked for .*\); .*attention_layers="):
        attribkit.create_attributor(method, torchvision.models.resnet18())


def test_options_are_checked():
    model = build("hf_vit_eager")
    with pytest.raises(OptionError, match="head_fusion must be one of"):
        attribkit.create_attributor("rollout", model, head_fusion="median")
    with pytest.raises(OptionError, match=r"discard_ratio must be in \[0, 1\)"):
        attribkit.create_attributor("rollout", model, discard_ratio=1.0)
    with pytest.raises(OptionError, match=r"layer_index must be an int in \[-2, 2\)"):
        attribkit.create_attributor("legrad", model, layer_index=2)
    with pytest.raises(OptionError, match="no module 'blocks.0.attn'"):
        attribkit.create_attributor("gradient_rollout", model, attention_layers="blocks.0.attn")
    layered = attribkit.create_attributor("rollout", model, attention_layers="vit.layers.*.attention")
    assert [s.name for s in layered.sites] == ["vit.layers.0.attention", "vit.layers.1.attention"]


def test_the_plugins_listing_names_them_with_their_options(capsys):
    from attribkit.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for method, option in [("rollout", "discard_ratio"), ("attention_flow", "head_fusion"),
                           ("gradient_rollout", "attention_layers"), ("legrad", "layer_index")]:
        line = next(i for i, text in enumerate(out.splitlines()) if f"attributor {method} " in text)
        assert option in out.splitlines()[line + 1]


@settings(max_examples=30, deadline=None)
@given(blocks=st.integers(1, 4), tokens=st.integers(2, 9), heads=st.integers(1, 3),
       fusion=st.sampled_from(["mean", "max", "min"]), discard=st.sampled_from([0.0, 0.3, 0.9]),
       seed=st.integers(0, 2 ** 16))
def test_rollout_rows_sum_to_one(blocks, tokens, heads, fusion, discard, seed):
    generator = torch.Generator().manual_seed(seed)
    probs = [torch.randn(2, heads, tokens, tokens, generator=generator).mul(3).softmax(-1) for _ in range(blocks)]
    result = rollout(probs, head_fusion=fusion, discard_ratio=discard)
    torch.testing.assert_close(result.sum(-1), torch.ones(2, tokens, dtype=result.dtype))
    assert (result >= 0).all()
