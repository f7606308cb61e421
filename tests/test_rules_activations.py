"""DeconvNet and guided backprop through GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish, Softplus.

The generalisations (docs/rules.md): DeconvNet passes ``relu(grad_out)``; guided backprop passes
``f'(x) * relu(grad_out)``. Each is checked against a naive reference: an explicit layer-by-layer
backward pass of a small MLP with closed-form derivatives (no autograd in the reference).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from attribkit.errors import UnsupportedActivationError, UnsupportedActivationWarning
from attribkit.rules import DeconvNet, Gradient, GuidedBackprop, Rule, applied


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-x))


def _gelu_tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    c = math.sqrt(2 / math.pi)
    t = torch.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)


def _mish_derivative(x: torch.Tensor) -> torch.Tensor:
    sp = torch.log1p(torch.exp(x))
    return torch.tanh(sp) + x * (1 - torch.tanh(sp) ** 2) * _sigmoid(x)


def _hardswish_derivative(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x < -3, 0.0, torch.where(x <= 3, x / 3 + 0.5, 1.0))


#: name -> (the forward, every spelling of it, its closed-form derivative)
ACTIVATIONS = {
    "gelu": ([torch.nn.GELU(), F.gelu, lambda x: torch._C._nn.gelu_(x * 1)],
             lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi)),
    "gelu_tanh": ([torch.nn.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")],
                  _gelu_tanh_derivative),
    "silu": ([torch.nn.SiLU(), torch.nn.SiLU(inplace=True), F.silu, lambda x: F.silu(x * 1, inplace=True),
              torch._C._nn.silu],
             lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    "elu": ([torch.nn.ELU(alpha=0.7), lambda x: F.elu(x, 0.7), lambda x: F.elu_(x * 1, 0.7),
             lambda x: torch.nn.ELU(0.7, inplace=True)(x * 1)],
            lambda x: torch.where(x > 0, 1.0, 0.7 * torch.exp(x))),
    "leaky_relu": ([torch.nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2),
                    lambda x: F.leaky_relu_(x * 1, 0.2), lambda x: F.leaky_relu(x, negative_slope=0.2, inplace=True)],
                   lambda x: torch.where(x > 0, 1.0, 0.2)),
    "hardswish": ([torch.nn.Hardswish(), F.hardswish, lambda x: F.hardswish(x * 1, inplace=True)],
                  _hardswish_derivative),
    "mish": ([torch.nn.Mish(), F.mish, lambda x: F.mish(x * 1, inplace=True)], _mish_derivative),
    "softplus": ([torch.nn.Softplus(beta=2.0), lambda x: F.softplus(x, beta=2.0)],
                 lambda x: _sigmoid(2.0 * x)),
}
CASES = [(name, i) for name, (spellings, _) in ACTIVATIONS.items() for i in range(len(spellings))]


class MLP(torch.nn.Module):
    def __init__(self, act) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weights = [torch.randn(12, 6, generator=g), torch.randn(10, 12, generator=g) / 3,
                        torch.randn(4, 10, generator=g) / 3]
        self.biases = [torch.randn(12, generator=g), torch.randn(10, generator=g), torch.randn(4, generator=g)]
        self.act = act if isinstance(act, torch.nn.Module) else None
        self.fn = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w.t() + b
            if i < 2:
                x = self.fn(x)
        return x


def naive(mlp: MLP, derivative, x: torch.Tensor, target: int, rule: str) -> torch.Tensor:
    """The rule's backward written out layer by layer, closed-form derivatives, no autograd."""
    pre = []
    h = x
    for i, (w, b) in enumerate(zip(mlp.weights, mlp.biases)):
        h = h @ w.t() + b
        if i < 2:
            pre.append(h)
            h = mlp.fn(h.clone())
    g = torch.zeros(x.shape[0], 4)
    g[:, target] = 1
    for i in (2, 1, 0):
        g = g @ mlp.weights[i]
        if i > 0:
            local = derivative(pre[i - 1])
            g = {"gradient": g * local, "deconvnet": g.clamp(min=0), "guided": g.clamp(min=0) * local}[rule]
    return g


RULES = {"gradient": Gradient(), "deconvnet": DeconvNet(), "guided": GuidedBackprop()}


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("name, spelling", CASES)
def test_rule_matches_the_naive_reference(name, spelling, rule):
    spellings, derivative = ACTIVATIONS[name]
    mlp = MLP(spellings[spelling])
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1)) * 2
    xr = x.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # covered: no warning
        with applied(RULES[rule], mlp) as active:
            (got,) = torch.autograd.grad(mlp(xr)[:, 2].sum(), xr)
    assert active.replaced == 2 and active.not_covered == []
    torch.testing.assert_close(got, naive(mlp, derivative, x, 2, rule), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_batched_k_class_backward_equals_k_backwards(name):
    mlp = MLP(ACTIVATIONS[name][0][0])
    x = torch.randn(3, 6, requires_grad=True)
    with applied(GuidedBackprop(), mlp):
        scores = mlp(x)
        eye = torch.eye(4).unsqueeze(1).expand(4, 3, 4)
        (batched,) = torch.autograd.grad(scores, x, eye, is_grads_batched=True, retain_graph=True)
        looped = torch.stack([torch.autograd.grad(scores, x, e, retain_graph=True)[0] for e in eye])
    torch.testing.assert_close(batched, looped)


def test_torch_func_transforms_go_through_the_generalisation():
    mlp = MLP(F.gelu)
    xs = torch.randn(3, 6)

    def score(v: torch.Tensor) -> torch.Tensor:
        return mlp(v.unsqueeze(0))[0, 1]

    with applied(DeconvNet()):
        vmapped = torch.func.vmap(torch.func.grad(score))(xs)
    want = torch.cat([naive(mlp, ACTIVATIONS["gelu"][1], v[None], 1, "deconvnet") for v in xs])
    torch.testing.assert_close(vmapped, want, rtol=1e-4, atol=1e-5)


class NoSmooth(Rule):
    """A plugin rule that defines rectifiers only."""

    name = "rectifiers_only"

    def rectifier_backward(self, grad_out, output, upper):  # type: ignore[no-untyped-def]
        return self.forward_switch(grad_out.abs(), output, upper)


def test_a_rule_without_a_generalisation_warns_once_naming_the_call():
    mlp = MLP(torch.nn.SiLU())
    x = torch.randn(2, 6, requires_grad=True)
    with pytest.warns(UnsupportedActivationWarning, match=r"covers ReLU, ReLU6, hardtanh\(x, 0, m\) only; .* silu"):
        with applied(NoSmooth(), mlp) as active:
            (got,) = torch.autograd.grad(mlp(x).sum(), x)
    assert active.not_covered == ["silu"] and active.replaced == 0
    (plain,) = torch.autograd.grad(mlp(x).sum(), x)
    torch.testing.assert_close(got, plain)


class Model_elu_x(torch.nn.Module):  # noqa: N801 - a user's name that contains "elu"
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.shuffle = torch.nn.PixelUnshuffle(2)  # "pix-elU-nshuffle"
        self.fc = torch.nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.shuffle(torch.relu(self.conv(x))).mean((2, 3)))


def test_no_false_alarm_from_names_that_contain_elu():
    model = Model_elu_x()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with applied(DeconvNet(), model, unsupported="raise") as active:
            model(torch.randn(1, 3, 8, 8, requires_grad=True)).sum().backward()
    assert active.not_covered == [] and active.replaced == 1


@pytest.mark.parametrize("cls", ["Swish", "Mish", "HardSwish", "QuickGELU"])
def test_python_written_timm_activations_are_named_by_type(cls):
    import timm.layers.activations as acts

    net = torch.nn.Sequential(torch.nn.Linear(3, 3), getattr(acts, cls)(), torch.nn.Linear(3, 2))
    with pytest.raises(UnsupportedActivationError, match=f"timm.layers.activations.{cls}"):
        with applied(GuidedBackprop(), net, unsupported="raise"):
            pass


def test_subclass_of_an_uncovered_type_is_caught():
    class MyPReLU(torch.nn.PReLU):
        pass

    with pytest.raises(UnsupportedActivationError, match="MyPReLU"):
        with applied(DeconvNet(), torch.nn.Sequential(MyPReLU()), unsupported="raise"):
            pass


def test_torchscript_model_is_reported_and_left_alone():
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU()))
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.warns(UnsupportedActivationWarning, match="TorchScript"):
        with applied(DeconvNet(), scripted) as active:
            scripted(x).sum().backward()
    assert active.replaced == 0 and torch._C._len_torch_function_stack() == 0
