"""Hypothesis proofs of the paper's section 5 on random small networks.

DeconvNet reconstruction is the gradient backward pass except at ReLU; guided backprop applies both masks.
The naive references in ``rules_nets.py`` are the specification (written against the forward *input*,
as the paper states the rules); the engine must match them for every spelling of the rectifier.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_nets import SPELLINGS, build, inputs, reference, specs

from attribkit.rules import DeconvNet, Gradient, GuidedBackprop, Rule, applied

RULES: dict[str, Rule] = {"gradient": Gradient(), "deconvnet": DeconvNet(), "guided": GuidedBackprop()}
seeds = st.integers(0, 2**16)
scales = st.sampled_from([0.5, 2.0, 8.0, 30.0])  # large inputs reach ReLU6's upper clamp


def _cotangent(net: torch.nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
    # A random (signed) cotangent is a stronger test than a one-hot class: every output carries signal.
    with torch.no_grad():
        shape = net(x).shape
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _grad(net: torch.nn.Module, x: torch.Tensor, cotangent: torch.Tensor, rule: Rule | None) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    if rule is None:
        (g,) = torch.autograd.grad(net(x), x, cotangent)
        return g
    with applied(rule, net):
        (g,) = torch.autograd.grad(net(x), x, cotangent)
    return g


@settings(max_examples=30, deadline=None)
@given(spec=specs(rectifiers=False), seed=seeds, scale=scales)
def test_without_rectifiers_deconvnet_and_guided_are_the_gradient_exactly(spec, seed, scale):
    net = build(spec, "module", seed)
    x = inputs(spec, seed, scale)
    cot = _cotangent(net, x, seed)
    plain = _grad(net, x, cot, None)
    for rule in (DeconvNet(), GuidedBackprop()):
        assert torch.equal(_grad(net, x, cot, rule), plain)


def _expected_at_rectifier(rule: str, grad_out: torch.Tensor, x: torch.Tensor, upper: float) -> torch.Tensor:
    zero = torch.zeros_like(grad_out)
    if rule == "gradient":
        return torch.where((x > 0) & (x < upper), grad_out, zero)
    relu_of_signal = grad_out.clamp(min=0)
    if rule == "deconvnet":
        return torch.where(x < upper, relu_of_signal, zero)
    return torch.where((x > 0) & (x < upper), relu_of_signal, zero)


@settings(max_examples=40, deadline=None)
@given(spec=specs(), seed=seeds, scale=scales, rule=st.sampled_from(sorted(RULES)),
       spelling=st.sampled_from(["module", "ReLU6"]))
def test_layer_by_layer_the_signals_agree_except_at_the_rectifier(spec, seed, scale, rule, spelling):
    upper = SPELLINGS[spelling][1]
    net = build(spec, spelling, seed)
    x = inputs(spec, seed, scale).requires_grad_(True)
    net.trace = []
    with applied(RULES[rule], net):
        out = net(x)
        nodes = [net.trace[0][1]] + [entry[2] for entry in net.trace]
        cot = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        signals = torch.autograd.grad(out, nodes, cot)
    for i, (kind, layer_in, _) in enumerate(net.trace):
        grad_in, grad_out = signals[i], signals[i + 1]
        if kind == "rectifier":
            # The only place where the three methods differ.
            expected = _expected_at_rectifier(rule, grad_out, layer_in.detach(), upper)
        else:
            # Convolution, pooling switches, batch-norm, linear: the ordinary backward, rule or not.
            layer = net.layers[sum(1 for k, *_ in net.trace[:i] if k == "layer")]
            probe = layer_in.detach().requires_grad_(True)
            (expected,) = torch.autograd.grad(layer(probe), probe, grad_out)
        torch.testing.assert_close(grad_in, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(spec=specs(), seed=seeds, scale=scales, rule=st.sampled_from(sorted(RULES)),
       spelling=st.sampled_from(sorted(SPELLINGS)))
def test_engine_matches_the_naive_reference_for_every_spelling(spec, seed, scale, rule, spelling):
    upper = SPELLINGS[spelling][1]
    net, ref = build(spec, spelling, seed), reference(spec, rule, upper, seed)
    x = inputs(spec, seed, scale)
    cot = _cotangent(ref, x, seed)
    xr = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(ref(xr), xr, cot)
    xe = x.clone().requires_grad_(True)
    with applied(RULES[rule], net) as active:
        out = net(xe)
        (got,) = torch.autograd.grad(out, xe, cot)
    # Nothing silently missed: every rectifier call of the network went through the rule.
    assert active.replaced == sum(net.acts)
    with torch.no_grad():
        torch.testing.assert_close(out, ref(x), rtol=0, atol=0)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(spec=specs(), seed=seeds, scale=scales, spelling=st.sampled_from(sorted(SPELLINGS)))
def test_forward_values_are_unchanged(spec, seed, scale, spelling):
    net = build(spec, spelling, seed)
    x = inputs(spec, seed, scale)
    plain = net(x.clone().requires_grad_(True))
    with applied(DeconvNet(), net):
        ruled = net(x.clone().requires_grad_(True))
    assert torch.equal(plain, ruled)
