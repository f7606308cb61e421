"""Small random networks for the rule tests, in every spelling of ReLU, and the naive reference rules.

A network is a *spec* (a list of layers, each optionally followed by a rectifier); :func:`build` turns it
into a module whose rectifiers are spelled one way (module, reused module, ``F.relu``, ``torch.relu``,
``Tensor.relu()``, in place, ReLU6 ...). The same spec and seed give the same weights in every spelling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st


@dataclass(frozen=True)
class Layer:
    kind: str  # conv | maxpool | avgpool | bn | linear
    width: int = 0
    kernel: int = 1
    act: bool = False


@dataclass(frozen=True)
class Spec:
    channels: int
    size: int
    conv: tuple[Layer, ...]
    dense: tuple[Layer, ...]
    classes: int


Rectifier = Callable[[torch.Tensor, int], torch.Tensor]  # call(x, i) for the network's i-th rectifier
#: factory(count) -> (call, the rectifier modules to register on the network)
Spelling = Callable[[int], "tuple[Rectifier, list[torch.nn.Module]]"]


def _modules(make: Callable[[], torch.nn.Module]) -> Spelling:
    def factory(count: int):  # type: ignore[no-untyped-def]
        mods = [make() for _ in range(count)]
        return (lambda x, i: mods[i](x)), mods

    return factory


def _reused(make: Callable[[], torch.nn.Module]) -> Spelling:
    def factory(count: int):  # type: ignore[no-untyped-def]
        module = make()
        return (lambda x, i: module(x)), [module]

    return factory


def _functional(fn: Callable[[torch.Tensor], torch.Tensor]) -> Spelling:
    return lambda count: ((lambda x, i: fn(x)), [])


SPELLINGS: dict[str, tuple[Spelling, float]] = {
    "module": (_modules(torch.nn.ReLU), math.inf),
    "module_inplace": (_modules(lambda: torch.nn.ReLU(inplace=True)), math.inf),
    "reused_module": (_reused(torch.nn.ReLU), math.inf),
    "reused_inplace": (_reused(lambda: torch.nn.ReLU(inplace=True)), math.inf),
    "F.relu": (_functional(F.relu), math.inf),
    "F.relu_inplace": (_functional(lambda x: F.relu(x, inplace=True)), math.inf),
    "F.relu_": (_functional(F.relu_), math.inf),
    "torch.relu": (_functional(torch.relu), math.inf),
    "torch.relu_": (_functional(torch.relu_), math.inf),
    "Tensor.relu": (_functional(lambda x: x.relu()), math.inf),
    "Tensor.relu_": (_functional(lambda x: x.relu_()), math.inf),
    "threshold": (_functional(lambda x: F.threshold(x, 0.0, 0.0)), math.inf),
    "ReLU6": (_modules(torch.nn.ReLU6), 6.0),
    "ReLU6_inplace": (_modules(lambda: torch.nn.ReLU6(inplace=True)), 6.0),
    "reused_ReLU6": (_reused(torch.nn.ReLU6), 6.0),
    "F.relu6": (_functional(F.relu6), 6.0),
    "F.relu6_inplace": (_functional(lambda x: F.relu6(x, inplace=True)), 6.0),
    "F.hardtanh(0,6)": (_functional(lambda x: F.hardtanh(x, 0.0, 6.0)), 6.0),
    "F.hardtanh_(0,3)": (_functional(lambda x: F.hardtanh_(x, 0.0, 3.0)), 3.0),
    "Hardtanh(0,6)": (_modules(lambda: torch.nn.Hardtanh(0.0, 6.0)), 6.0),
}


class SpecNet(torch.nn.Module):
    """The network of a spec; ``trace`` (a list) collects ``(kind, input, output)`` when set."""

    def __init__(self, spec: Spec, spelling: Spelling, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        layers: list[torch.nn.Module] = []
        channels, size = spec.channels, spec.size
        for layer in spec.conv:
            if layer.kind == "conv":
                layers.append(torch.nn.Conv2d(channels, layer.width, layer.kernel, padding=layer.kernel // 2))
                channels = layer.width
            elif layer.kind == "maxpool":
                layers.append(torch.nn.MaxPool2d(2))
                size //= 2
            elif layer.kind == "avgpool":
                layers.append(torch.nn.AvgPool2d(2))
                size //= 2
            else:
                bn = torch.nn.BatchNorm2d(channels)
                # Random running statistics and affine terms, so eval-mode batch-norm is a real affine map.
                bn.running_mean.uniform_(-1, 1)
                bn.running_var.uniform_(0.5, 2)
                bn.weight.data.uniform_(0.5, 1.5)
                bn.bias.data.uniform_(-0.5, 0.5)
                layers.append(bn)
        layers.append(torch.nn.Flatten())
        features = channels * size * size
        for layer in spec.dense:
            layers.append(torch.nn.Linear(features, layer.width))
            features = layer.width
        layers.append(torch.nn.Linear(features, spec.classes))
        self.layers = torch.nn.ModuleList(layers)
        self.acts = [layer.act for layer in spec.conv] + [False]
        self.acts += [layer.act for layer in spec.dense] + [False]
        self.rectifier, modules = spelling(sum(self.acts))
        self.rectifier_modules = torch.nn.ModuleList(modules)
        self.trace: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = 0
        for layer, act in zip(self.layers, self.acts):
            y = layer(x)
            if self.trace is not None:
                self.trace.append(("layer", x, y))
            x = y
            if act:
                y = self.rectifier(x, k)
                if self.trace is not None:
                    self.trace.append(("rectifier", x, y))
                x = y
                k += 1
        return x


def build(spec: Spec, spelling: str, seed: int) -> SpecNet:
    return SpecNet(spec, SPELLINGS[spelling][0], seed).double()


# ----- naive references: the rules written against the forward *input*, as the paper states them -----


def naive_rectifier(rule: str, upper: float) -> Spelling:
    """``clamp(x, 0, upper)`` with an explicit backward for ``rule`` in gradient/deconvnet/guided."""

    class Naive(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x)
            return x.clamp(min=0) if math.isinf(upper) else x.clamp(0, upper)

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (x,) = ctx.saved_tensors
            forward_switch = (x > 0) & (x < upper)
            below_upper = x < upper
            backward_relu = torch.where(g > 0, g, torch.zeros_like(g))
            if rule == "gradient":
                return torch.where(forward_switch, g, torch.zeros_like(g))
            if rule == "deconvnet":
                return torch.where(below_upper, backward_relu, torch.zeros_like(g))
            return torch.where(forward_switch, backward_relu, torch.zeros_like(g))

    return lambda count: ((lambda x, i: Naive.apply(x)), [])


def reference(spec: Spec, rule: str, upper: float, seed: int) -> SpecNet:
    return SpecNet(spec, naive_rectifier(rule, upper), seed).double()


# ----- hypothesis strategies -----


@st.composite
def specs(draw: st.DrawFn, *, rectifiers: bool = True) -> Spec:
    """Random depth, layer kinds, widths and kernel sizes; rectifiers after some layers (or none)."""
    channels = draw(st.integers(1, 3))
    size = draw(st.integers(4, 9))
    conv: list[Layer] = []
    current = size
    for _ in range(draw(st.integers(0, 4))):
        kinds = ["conv", "bn"] + (["maxpool", "avgpool"] if current >= 2 else [])
        kind = draw(st.sampled_from(kinds))
        act = rectifiers and draw(st.booleans())
        if kind == "conv":
            conv.append(Layer("conv", draw(st.integers(1, 5)), draw(st.sampled_from([1, 3, 5])), act))
        else:
            conv.append(Layer(kind, act=act))
            current = current // 2 if kind.endswith("pool") else current
    dense = [
        Layer("linear", draw(st.integers(2, 12)), act=rectifiers and draw(st.booleans()))
        for _ in range(draw(st.integers(0, 2)))
    ]
    return Spec(channels, size, tuple(conv), tuple(dense), draw(st.integers(2, 6)))


def inputs(spec: Spec, seed: int, scale: float, n: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, spec.channels, spec.size, spec.size, generator=g, dtype=torch.float64) * scale)
