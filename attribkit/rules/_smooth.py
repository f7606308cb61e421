"""Smooth and leaky activations (GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish, Softplus) under a rule.

Section 5 of Simonyan et al. defines DeconvNet and guided backprop at ReLU only. For the activations of
today's transformers and EfficientNets we use the generalisations that keep each method's defining step
(see ``docs/rules.md``):

* DeconvNet: rectify the backward signal and drop the forward switch, ``relu(grad_out)``: the activation
  is passed back as if it were the identity, as DeconvNet passes ReLU back without looking at its input.
* guided backprop: keep the local derivative and rectify the backward signal, ``f'(x) * relu(grad_out)``;
  at ReLU ``f'(x) = (x > 0)`` and this is Springenberg et al.'s rule exactly.

A rule says how with :meth:`attribkit.rules.Rule.activation_signal` (the rectified signal) and
:attr:`attribkit.rules.Rule.keeps_local_derivative`. The derivative is taken from the activation's own
autograd formula (so ``gelu(approximate="tanh")``, ``leaky_relu(x, 0.2)`` and ``softplus(x, beta=2)`` are
exact), once in the forward pass, so the backward stays elementwise (it runs under the batched K-class
backward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from attribkit.errors import UnsupportedActivationError
from attribkit.rules._rule import Rule

Call = Callable[[torch.Tensor], torch.Tensor]


class ActivationCall(NamedTuple):
    """A call of an elementwise activation: its name, input and whether it writes in place."""

    name: str
    input: torch.Tensor
    inplace: bool


def _parser(name: str, inplace_at: int | None, always_inplace: bool = False) -> Callable[..., ActivationCall]:
    """A parser reading ``(input, ..., inplace)`` of one spelling; ``inplace_at`` is its position."""

    def parse(*args: Any, **kwargs: Any) -> ActivationCall:
        x = args[0] if args else kwargs["input"]
        inplace = always_inplace
        if inplace_at is not None:
            inplace = bool(args[inplace_at]) if len(args) > inplace_at else bool(kwargs.get("inplace", False))
        return ActivationCall(name, x, inplace)

    return parse


_nn = torch._C._nn

#: Covered smooth/leaky activations, keyed by the function object a torch-function mode receives: the
#: ``F.*`` Python entry points that ``nn.GELU``/``nn.SiLU``/... call, and the ``torch._C._nn`` kernels.
SMOOTH: dict[Any, Callable[..., ActivationCall]] = {
    F.gelu: _parser("gelu", None),  # the same object as torch._C._nn.gelu
    _nn.gelu_: _parser("gelu", None, True),  # type: ignore[attr-defined]
    F.silu: _parser("silu", 1),
    _nn.silu: _parser("silu", None),
    _nn.silu_: _parser("silu", None, True),
    F.elu: _parser("elu", 2),
    _nn.elu: _parser("elu", None),
    _nn.elu_: _parser("elu", None, True),  # also F.elu_
    F.leaky_relu: _parser("leaky_relu", 2),
    _nn.leaky_relu: _parser("leaky_relu", 3),
    _nn.leaky_relu_: _parser("leaky_relu", None, True),  # also F.leaky_relu_
    F.hardswish: _parser("hardswish", 1),
    _nn.hardswish: _parser("hardswish", None),
    _nn.hardswish_: _parser("hardswish", None, True),
    F.mish: _parser("mish", 1),
    _nn.mish: _parser("mish", None),
    _nn.mish_: _parser("mish", None, True),
    F.softplus: _parser("softplus", None),  # the same object as torch._C._nn.softplus
}


def covers_activations(rule: Rule) -> bool:
    """Whether ``rule`` defines a backward for the smooth activations (overrides ``activation_signal``)."""
    return type(rule).activation_signal is not Rule.activation_signal


def _derivative(call: Call, x: torch.Tensor) -> torch.Tensor:
    """``f'(x)`` of an elementwise activation, from its own autograd formula (before any in-place write)."""
    with torch.enable_grad():
        xd = x.detach().requires_grad_(True)
        # A non-leaf copy: an in-place activation may write to it.
        y = call(xd * 1)
        (d,) = torch.autograd.grad(y, xd, torch.ones_like(y))
    return d


def _remember(ctx: Any, x: torch.Tensor, rule: Rule, derivative: torch.Tensor | None, inplace: bool) -> None:
    if inplace:
        ctx.mark_dirty(x)
    if derivative is not None:
        ctx.save_for_backward(derivative)
    ctx.rule = rule
    ctx.has_derivative = derivative is not None


def _backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
    signal = ctx.rule.activation_signal(grad_out)
    if ctx.has_derivative:
        (derivative,) = ctx.saved_tensors
        signal = signal * derivative
    return signal, None, None, None, None


def _forward(x: torch.Tensor, rule: Rule, call: Call, inplace: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    derivative = _derivative(call, x) if rule.keeps_local_derivative else None
    return call(x), derivative


class _Plain(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: Rule, call: Call, inplace: bool, _: Any) -> torch.Tensor:  # type: ignore[override]
        output, derivative = _forward(x, rule, call, inplace)
        _remember(ctx, x, rule, derivative, inplace)
        return output

    backward = staticmethod(_backward)  # type: ignore[assignment]


class _Transformable(torch.autograd.Function):
    """The ``setup_context`` form with ``generate_vmap_rule``, which ``torch.func`` transforms require."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, rule: Rule, call: Call, inplace: bool, _: Any) -> Any:  # type: ignore[override]
        output, derivative = _forward(x, rule, call, inplace)
        return output, derivative

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, rule, _, inplace, _ = inputs
        _remember(ctx, x, rule, output[1], inplace)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, _: Any) -> tuple[Any, ...]:  # type: ignore[override]
        return _backward(ctx, grad_out)


def ruled_activation(x: torch.Tensor, rule: Rule, call: Call, inplace: bool) -> torch.Tensor:
    """``call(x)`` exactly as the model asked for it; its backward is ``rule``'s generalisation."""
    if torch._C._are_functorch_transforms_active():
        if inplace:
            raise UnsupportedActivationError("an in-place activation under a torch.func transform cannot take a rule")
        return _Transformable.apply(x, rule, call, inplace, None)[0]
    return _Plain.apply(x, rule, call, inplace, None)
