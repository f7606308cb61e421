"""Attention access (issue 21, item 1): sites found per family, explicit attention equal to the fused
path, probabilities in the graph, nothing left behind, one clear error for what is not a transformer."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from vit_families import FAMILIES, build, inputs, logits

from attribkit.errors import ModelError, OptionError
from attribkit.transformers import (
    attention_sites,
    check_explicit_attention,
    explicit_attention,
    recording_attention,
    token_layout,
    transformer_only,
)

PREFIX = {"timm_vit": 1, "timm_deit_distilled": 2, "torchvision_vit": 1, "hf_vit_sdpa": 1, "hf_vit_eager": 1}
GRID = {"timm_vit": (14, 14), "timm_deit_distilled": (14, 14), "torchvision_vit": (7, 7), "hf_vit_sdpa": (4, 4),
        "hf_vit_eager": (4, 4)}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    return request.param, build(request.param)


def test_one_site_per_block_and_explicit_equals_fused(family):
    name, model = family
    assert len(attention_sites(model)) == 2
    assert check_explicit_attention(model, inputs(name)) < 1e-5


def test_probabilities_are_in_the_graph_and_rows_sum_to_one(family):
    name, model = family
    x = inputs(name).requires_grad_(True)
    with recording_attention(model) as record:
        scores = logits(model, x)
    probs = record.probs
    layout = token_layout(model, probs[0].shape[-1], tuple(x.shape[-2:]))
    assert (layout.prefix, layout.grid) == (PREFIX[name], GRID[name])
    assert all(p.shape[0] == 2 and p.shape[-1] == p.shape[-2] == layout.tokens for p in probs)
    torch.testing.assert_close(probs[0].sum(-1), torch.ones_like(probs[0][..., 0]))
    grads = torch.autograd.grad(scores[:, 1].sum(), probs)
    assert all(g.shape == p.shape and g.abs().sum() > 0 for g, p in zip(grads, probs))


def test_the_gradient_is_the_one_through_the_probabilities(monkeypatch):
    """∂S/∂A by autograd equals a finite difference of block 1's A fed through the same forward."""
    model, x = build("timm_vit").double(), inputs("timm_vit", batch=1).double()
    with recording_attention(model) as record:
        score = logits(model, x.requires_grad_(True))[0, 3]
    (grad,) = torch.autograd.grad(score, record.probs[1])
    entry, eps, calls = (0, 1, 0, 7), 1e-3, []  # the class token's row: the only one the head reads
    fused = F.scaled_dot_product_attention

    def bumped(q, k, v, **kw):
        calls.append(1)
        if len(calls) != 2:
            return fused(q, k, v, **kw)
        _, probs = explicit_attention(q, k, v, **kw)
        probs = probs.clone()
        probs[entry] += eps
        return probs @ v

    with torch.no_grad():
        base = logits(model, x.detach())[0, 3]
        monkeypatch.setattr(F, "scaled_dot_product_attention", bumped)
        moved = logits(model, x.detach())[0, 3]
    assert float((moved - base) / eps) == pytest.approx(float(grad[entry]), rel=1e-2, abs=1e-6)
    assert abs(float(grad[entry])) > 1e-3


def test_nothing_is_left_behind_also_after_an_exception():
    model, x = build("timm_vit"), inputs("timm_vit")
    hooks = lambda: sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())  # noqa: E731
    before = (hooks(), [b.attn.fused_attn for b in model.blocks], torch.overrides._get_current_function_mode_stack())
    with pytest.raises(RuntimeError, match="boom"):
        with recording_attention(model):
            logits(model, x)
            raise RuntimeError("boom")
    after = (hooks(), [b.attn.fused_attn for b in model.blocks], torch.overrides._get_current_function_mode_stack())
    assert before == after


def test_other_threads_keep_the_fused_path():
    model, x = build("timm_vit"), inputs("timm_vit")
    seen = []
    with recording_attention(model) as record:
        thread = threading.Thread(target=lambda: seen.append(logits(model, x)))
        thread.start()
        thread.join()
        assert record.forwards == 0  # the other thread's pass was not recorded
        logits(model, x)
    assert record.forwards == 1 and len(record.probs) == 2


def test_a_cnn_gets_one_error_naming_what_was_looked_for():
    import torchvision

    with pytest.raises(ModelError, match=r"rollout explains vision transformers only: ResNet has no attention "
                                         r"layer .*timm Attention.*MultiheadAttention.*attention_layers="):
        transformer_only(torchvision.models.resnet18(), "rollout")


def test_attention_layers_names_blocks_of_an_unknown_model():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(8, 24)

        def forward(self, x):
            q, k, v = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, 2, 4).permute(2, 0, 3, 1, 4)
            return x + F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape)

    net = torch.nn.Sequential(Block(), Block())
    with pytest.raises(ModelError, match="looked for"):
        attention_sites(net)
    sites = attention_sites(net, attention_layers="[01]")
    assert [s.name for s in sites] == ["0", "1"]
    with recording_attention(net, sites=sites) as record:
        net(torch.randn(3, 5, 8))
    assert [tuple(p.shape) for p in record.probs] == [(3, 2, 5, 5)] * 2
    with pytest.raises(OptionError, match="has no module 'blocks.0'"):
        attention_sites(net, ["blocks.0"])


def test_a_site_without_attention_is_named():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with recording_attention(net, attention_layers="0") as record:
        net(torch.randn(2, 4))
    with pytest.raises(ModelError, match="site '0' ran no attention"):
        record.probs
