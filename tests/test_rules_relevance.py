"""Relevance rules in the engine (issue 21): every spelling of softmax, the attention's products,
layer_norm, linear and the activations reaches the rule; fused attention is written out; the rules equal
the ``lxt`` package's (AttnLRP, CP-LRP) on the same random-weight torchvision ViT; several rules compose;
nothing is left behind, also after an exception."""

from __future__ import annotations

import importlib
import math
import sys
import types
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.nn.modules import module as nn_module

from attribkit.rules import (
    CPLRP,
    AttnLRP,
    DeconvNet,
    Rule,
    UnsupportedActivationWarning,
    applied,
    identity_rule,
    layer_norm_identity,
    linear_epsilon,
    scale_gradient,
)


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(d) for m in model.modules() for d in (m._forward_hooks, m._forward_pre_hooks,
                                                          m._forward_hooks_always_called)) + \
        sum(len(getattr(nn_module, n)) for n in dir(nn_module)
            if n.startswith("_global_") and isinstance(getattr(nn_module, n), dict))


class TinyAttention(torch.nn.Module):
    """One attention block written with a chosen spelling of each operation."""

    def __init__(self, spelling: str, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.spelling, self.heads = spelling, heads
        self.norm = torch.nn.LayerNorm(dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.act = torch.nn.GELU()
        self.head = torch.nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = self.norm(x) if self.spelling != "functional" else F.layer_norm(x, (d,), self.norm.weight, self.norm.bias)
        q, k, v = self.qkv(h).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        s = self.spelling
        if s == "fused":
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = {"operator": lambda: q @ k.transpose(-2, -1), "functional": lambda: torch.matmul(q, k.mT),
                      "einsum": lambda: torch.einsum("nhid,nhjd->nhij", q, k),
                      "bmm": lambda: torch.bmm(q.flatten(0, 1), k.flatten(0, 1).mT).view(n, -1, t, t)}[s]()
            scores = scores / math.sqrt(d // self.heads)
            attn = {"operator": lambda: scores.softmax(-1), "functional": lambda: F.softmax(scores, dim=-1),
                    "einsum": lambda: torch.softmax(scores, -1), "bmm": lambda: scores.softmax(dim=-1)}[s]()
            out = torch.einsum("nhij,nhjd->nhid", attn, v) if s == "einsum" else attn @ v
        out = self.act(out.transpose(1, 2).reshape(n, t, d)) + x
        return self.head(out.mean(1))


def _lxt_style(model: TinyAttention, x: torch.Tensor, cp: bool = False) -> torch.Tensor:
    """The same block with AttnLRP's (or CP-LRP's) rules written into its forward, lxt.efficient's way:
    LayerNorm's std detached, GELU through the identity rule, q, k divided by 4 and v by 2 (or q, k
    detached for CP-LRP). Returns input × gradient of class 1."""
    x = x.clone().requires_grad_(True)
    n, t, d = x.shape
    mean = x.mean(-1, keepdim=True)
    std = ((x - mean).pow(2).mean(-1, keepdim=True) + 1e-5).sqrt().detach()
    h = (x - mean) / std * model.norm.weight + model.norm.bias
    q, k, v = model.qkv(h).reshape(n, t, 3, model.heads, d // model.heads).permute(2, 0, 3, 1, 4)
    q, k = (q.detach(), k.detach()) if cp else (scale_gradient(q, 0.25), scale_gradient(k, 0.25))
    v = v if cp else scale_gradient(v, 0.5)
    attn = (q @ k.mT / math.sqrt(d // model.heads)).softmax(-1)
    out = (attn @ v).transpose(1, 2).reshape(n, t, d)
    y = out * (F.gelu(out) / (out + 1e-10)).detach() + x  # the identity rule: gradient f(x)/x
    (g,) = torch.autograd.grad(model.head(y.mean(1))[:, 1].sum(), x)
    return (x * g).detach()


def _relevance(model: torch.nn.Module, x: torch.Tensor, rule: Rule | tuple[Rule, ...], cls: int = 1):
    x = x.clone().requires_grad_(True)
    with applied(rule, model) as active:
        (g,) = torch.autograd.grad(model(x)[:, cls].sum(), x)
    return (x * g).detach(), active


@pytest.mark.parametrize("spelling", ["operator", "functional", "einsum", "bmm", "fused"])
@pytest.mark.parametrize("cp", [False, True])
def test_every_spelling_reaches_the_rules_and_equals_the_rules_written_into_the_forward(spelling, cp):
    model = TinyAttention(spelling).double().eval()
    x = torch.randn(2, 5, 8, dtype=torch.double, generator=torch.Generator().manual_seed(1))
    rule = CPLRP(epsilon=0) if cp else AttnLRP(epsilon=0)
    ours, active = _relevance(model, x, rule)
    torch.testing.assert_close(ours, _lxt_style(model, x, cp=cp), rtol=1e-7, atol=1e-9)
    assert active.counts["softmax"] == 1 and active.counts["layer_norm"] == 1
    assert active.counts["activation"] == 1 and active.counts["linear"] == 2
    assert active.counts["bilinear"] == (1 if cp else 2)  # CP: the constant attention makes A v linear
    assert active.counts["attention"] == (spelling == "fused")


def test_forward_values_are_unchanged_and_fused_attention_is_written_out_only_inside():
    model = TinyAttention("fused").eval()
    x = torch.randn(2, 5, 8).requires_grad_(True)
    with torch.no_grad():
        plain = model(x)
    with applied(AttnLRP(), model):
        ruled = model(x)
    torch.testing.assert_close(ruled, plain, rtol=1e-6, atol=1e-6)
    with applied(AttnLRP(), model) as active:
        pass
    model(x)  # outside the block: no rule, no count
    assert active.counts == {}


def test_a_product_with_a_parameter_is_linear_not_bilinear():
    weight = torch.nn.Parameter(torch.randn(4, 4))
    x = torch.randn(3, 4, requires_grad=True)
    with applied(AttnLRP()) as active:
        y = (x * 1) @ weight.t() @ (x * 1).t()  # the first product is linear, the second bilinear
        (g,) = torch.autograd.grad(y.sum(), x)
    assert active.counts["bilinear"] == 1


def test_layer_norm_and_linear_rules_against_closed_forms():
    torch.manual_seed(0)
    x = torch.randn(3, 6, dtype=torch.double, requires_grad=True)
    w, b = torch.randn(6, dtype=torch.double), torch.randn(6, dtype=torch.double)
    g = torch.randn(3, 6, dtype=torch.double)
    (got,) = torch.autograd.grad(layer_norm_identity(x, (6,), w, b, 1e-5), x, g)
    std = (x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    gw = g * w
    torch.testing.assert_close(got, (gw - gw.mean(-1, keepdim=True)) / std)
    weight, bias = torch.randn(4, 6, dtype=torch.double), torch.randn(4, dtype=torch.double)
    g4 = torch.randn(3, 4, dtype=torch.double)
    (got,) = torch.autograd.grad(linear_epsilon(x, weight, bias, 0.5), x, g4)
    z = (x @ weight.t() + bias).detach()
    torch.testing.assert_close(got, (g4 * z / (z + 0.5 * torch.where(z >= 0, 1.0, -1.0))) @ weight)
    (got,) = torch.autograd.grad(identity_rule(F.gelu, x), x, g)
    torch.testing.assert_close(got, g * F.gelu(x.detach()) / x.detach(), rtol=1e-6, atol=1e-8)


class ReluAttention(TinyAttention):
    """A ReLU after the attention, so a rectifier rule and the relevance rules both have work."""

    def __init__(self) -> None:
        super().__init__("operator")
        self.act = torch.nn.ReLU()


def test_a_rectifier_rule_and_the_relevance_rules_compose():
    model = ReluAttention().double().eval()
    x = torch.randn(2, 5, 8, dtype=torch.double, generator=torch.Generator().manual_seed(2))
    both, active = _relevance(model, x, (DeconvNet(), AttnLRP(epsilon=0)))
    assert active.counts["rectifier"] == 1 and "activation" not in active.counts  # DeconvNet had the ReLU
    assert active.counts["softmax"] == active.counts["layer_norm"] == 1 and active.counts["bilinear"] == 2
    alone, _ = _relevance(model, x, AttnLRP(epsilon=0))
    assert not torch.allclose(both, alone)
    # Nested blocks compose too: the innermost rule that covers an operation has it.
    xx = x.clone().requires_grad_(True)
    with applied(AttnLRP(epsilon=0), model), applied(DeconvNet(), model):
        (g,) = torch.autograd.grad(model(xx)[:, 1].sum(), xx)
    torch.testing.assert_close(xx.detach() * g, both)
    # Naive reference: AttnLRP's rules written into the forward, DeconvNet's relu(grad) at the ReLU.
    torch.testing.assert_close(both, _lxt_style_with(model, x, _DeconvReLU.apply), rtol=1e-7, atol=1e-9)


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


def _lxt_style_with(model: TinyAttention, x: torch.Tensor, act) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    n, t, d = x.shape
    mean = x.mean(-1, keepdim=True)
    std = ((x - mean).pow(2).mean(-1, keepdim=True) + 1e-5).sqrt().detach()
    h = (x - mean) / std * model.norm.weight + model.norm.bias
    q, k, v = model.qkv(h).reshape(n, t, 3, model.heads, d // model.heads).permute(2, 0, 3, 1, 4)
    q, k, v = scale_gradient(q, 0.25), scale_gradient(k, 0.25), scale_gradient(v, 0.5)
    out = ((q @ k.mT / math.sqrt(d // model.heads)).softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
    (g,) = torch.autograd.grad(model.head((act(out) + x).mean(1))[:, 1].sum(), x)
    return (x * g).detach()


class _Boom(RuntimeError):
    pass


class _Exploding(AttnLRP):
    def softmax(self, x, call):
        raise _Boom("in the rule")


@pytest.mark.parametrize("where", ["rule", "backward"])
def test_nothing_is_left_behind_after_an_exception(where):
    model = TinyAttention("fused").eval()
    x = torch.randn(2, 5, 8)
    before = _hook_count(model)
    xx = x.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(model(xx)[:, 1].sum(), xx)
    rule = _Exploding() if where == "rule" else AttnLRP()
    with pytest.raises(_Boom):
        with applied(rule, model):
            y = model(x.clone().requires_grad_(True))
            if where == "backward":
                y.register_hook(lambda g: (_ for _ in ()).throw(_Boom("in the backward")))
                y.sum().backward()
    assert torch._C._len_torch_function_stack() == 0
    assert _hook_count(model) == before
    xx = x.clone().requires_grad_(True)
    (again,) = torch.autograd.grad(model(xx)[:, 1].sum(), xx)
    assert torch.equal(again, plain)


def test_multi_head_attention_with_a_mask_keeps_its_gradient_and_says_so():
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(2, 5, 8, requires_grad=True)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    with pytest.warns(UnsupportedActivationWarning, match="multi_head_attention_forward with key_padding_mask"):
        with applied(AttnLRP(), mha) as active:
            mha(x, x, x, key_padding_mask=mask, need_weights=False)
    assert active.counts["attention"] == 0


@pytest.mark.parametrize("need_weights", [False, True])
def test_multi_head_attention_is_written_out_with_the_same_values(need_weights):
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(2, 5, 8, requires_grad=True)
    fused = mha(x, x, x, need_weights=need_weights)
    with applied(AttnLRP(), mha) as active:
        explicit = mha(x, x, x, need_weights=need_weights)
    assert active.counts["attention"] == 1 and active.counts["softmax"] == 1 and active.counts["linear"] == 4
    torch.testing.assert_close(explicit[0], fused[0], rtol=1e-5, atol=1e-6)
    if need_weights:
        torch.testing.assert_close(explicit[1], fused[1], rtol=1e-5, atol=1e-6)


def _lxt_efficient():
    """lxt 2.1's ``lxt.efficient`` package ``__init__`` imports its BERT patch, which imports
    ``find_pruneable_heads_and_indices``, a name transformers 5 removed: register the package (and its
    ``models`` subpackage) without running their ``__init__`` and import the modules needed directly.
    Test-only; nothing of lxt is changed."""
    pytest.importorskip("lxt")
    if "lxt.efficient" not in sys.modules:
        root = importlib.util.find_spec("lxt").submodule_search_locations[0]
        for name, path in (("lxt.efficient", f"{root}/efficient"),
                           ("lxt.efficient.models", f"{root}/efficient/models")):
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
    patches = importlib.import_module("lxt.efficient.patches")
    rules = importlib.import_module("lxt.efficient.rules")
    vit = importlib.import_module("lxt.efficient.models.vit_torch")
    return patches, rules, vit


def _torchvision_vit(dtype: torch.dtype) -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2,
                                                 hidden_dim=32, mlp_dim=64, num_classes=10)
    torch.nn.init.normal_(model.heads.head.weight, std=0.5)  # torchvision starts the head at zero
    return model.eval().to(dtype)


def _lxt_relevance(model: torch.nn.Module, x: torch.Tensor, patch_map: dict, cls: int) -> torch.Tensor:
    """lxt's way: patch the classes (restored after), then input × gradient."""
    saved = {target: target.forward for target in patch_map}
    try:
        for target, patch in patch_map.items():
            assert patch(target)
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xx)[:, cls].sum(), xx)
    finally:
        for target, forward in saved.items():
            target.forward = forward
            if "original_forward" in vars(target):
                del target.original_forward
    return (xx * g).detach()


def _attnlrp_patch_map(patches, rules) -> dict:
    """AttnLRP on torchvision's ViT from lxt's own pieces: lxt 2.1 ships only CP-LRP for it
    (``lxt/efficient/models/vit_torch.py``), so the attention is its HF wrapper's (``wrap_attention_forward``:
    q, k divided by 4, v by 2 around an eager attention), with its GELU and LayerNorm patches."""
    from functools import partial

    def attention(self, query, key, value, need_weights=False, **kwargs):
        n, t, e = query.shape
        h, d = self.num_heads, e // self.num_heads
        q, k, v = (p.reshape(n, t, h, d).transpose(1, 2)
                   for p in F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, -1))
        q, k, v = rules.divide_gradient(q, 4), rules.divide_gradient(k, 4), rules.divide_gradient(v, 2)
        out = (torch.matmul(q, k.transpose(2, 3)) * d ** -0.5).softmax(-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(n, t, e)), None

    return {
        torch.nn.GELU: partial(patches.patch_method, patches.non_linear_forward, keep_original=True),
        torch.nn.LayerNorm: partial(patches.patch_method, patches.layer_norm_forward),
        torch.nn.MultiheadAttention: partial(patches.patch_method, attention),
    }


@pytest.mark.parametrize("method", ["attnlrp", "cplrp"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_equal_to_lxt_on_a_torchvision_vit(method, dtype):
    import attribkit

    patches, rules, vit = _lxt_efficient()
    model = _torchvision_vit(dtype)
    x = torch.randn(2, 3, 64, 64, dtype=dtype, generator=torch.Generator().manual_seed(3))
    patch_map = vit.cp_LRP if method == "cplrp" else _attnlrp_patch_map(patches, rules)
    reference = _lxt_relevance(model, x, patch_map, cls=4)
    ours = attribkit.create_attributor(method, model, epsilon=0).attribute(x, target=4)
    scale = reference.abs().max()
    gap = float((ours - reference).abs().max() / scale)
    # float64: lxt's identity rule divides by x + 1e-10, ours by x ± 1e-10 (sign-aware), ~1e-8 relative
    # where x is small and negative; float32: float rounding of explicit against fused attention.
    assert gap < (1e-7 if dtype == torch.float64 else 1e-4), gap
    with_epsilon = attribkit.create_attributor(method, model).attribute(x, target=4)  # ε = 1e-6
    assert float((with_epsilon - reference).abs().max() / scale) < 1e-2


@pytest.mark.parametrize("rule", [AttnLRP(), AttnLRP(epsilon=0), CPLRP()], ids=repr)
def test_torch_func_transforms_run_through_the_rules(rule):
    model = TinyAttention("fused").double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(3, 5, 8, dtype=torch.double, generator=torch.Generator().manual_seed(4))
    with applied(rule, model):
        per_image = torch.func.vmap(torch.func.grad(lambda xi: model(xi[None])[0, 1]))(x)
    xx = x.clone().requires_grad_(True)
    with applied(rule, model):
        (whole,) = torch.autograd.grad(model(xx)[:, 1].sum(), xx)
    torch.testing.assert_close(per_image, whole)
