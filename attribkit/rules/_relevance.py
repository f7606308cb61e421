"""Building blocks of relevance rules in the Gradient×Input framework (Achtibat et al., ICML 2024, §3.3).

LRP relevance at a tensor ``t`` is ``t ⊙ ∂'f/∂t``, where ``∂'`` is a *modified* gradient: the rule at
each operation changes its backward so that ``input ⊙ grad_input`` is that rule's relevance. These
functions give a rule's hook a tensor equal in value to the operation's result whose backward is the
modified one. Each is a ``torch.autograd.Function`` in the ``setup_context`` form with a generated vmap
rule, so the K-class batched backward and ``torch.func`` transforms run through it, and every backward
is elementwise or a reduction over the normalised/feature axes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F


def stabilise(x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``x + epsilon * sign(x)``, with ``sign(0) = 1`` (zennit's ``stabilize``): a denominator that never
    crosses zero."""
    return x + ((x == 0).to(x.dtype) + x.sign()) * epsilon


class _ScaleGradient(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, factor: float) -> torch.Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.factor = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        return grad * ctx.factor, None


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` itself (a view), whose backward multiplies the incoming gradient by ``factor``.

    With ``factor = 1/n`` on each of the ``n`` operands of an ``n``-linear product this is AttnLRP's
    uniform rule (Achtibat et al. 2024, Eq. 7; lxt's ``divide_gradient``): in Gradient×Input each operand
    of a product homogeneous of degree one in it receives the product's whole relevance, so ``1/n`` each
    conserves it.

    Parameters
    ----------
    x
        Any tensor.
    factor
        The gradient's multiplier.
    """
    return _ScaleGradient.apply(x, float(factor))


class _IdentityRule(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor], epsilon: float
    ) -> Any:
        y = call(x)
        return y, y / stabilise(x, epsilon)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _: Any) -> tuple[Any, ...]:  # type: ignore[override]
        (ratio,) = ctx.saved_tensors
        return grad * ratio, None, None


def identity_rule(
    call: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, epsilon: float = 1e-10
) -> torch.Tensor:
    """``call(x)`` for an elementwise ``f``, whose backward is ``grad · f(x) / x``: relevance passes
    through unchanged, ``x ⊙ grad_x = f(x) ⊙ grad_y`` (AttnLRP's identity rule, Achtibat et al. 2024,
    Eq. 9; lxt's ``identity_rule_implicit``).

    Parameters
    ----------
    call
        The elementwise function, out of place.
    x
        Its input, any shape.
    epsilon
        Stabiliser of the denominator (:func:`stabilise`).
    """
    return _IdentityRule.apply(x, call, float(epsilon))[0]


class _LayerNormIdentity(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        x: torch.Tensor, shape: tuple[int, ...], weight: Any, bias: Any, eps: float
    ) -> Any:
        dims = tuple(range(-len(shape), 0))
        rstd = (x.var(dim=dims, unbiased=False, keepdim=True) + eps).rsqrt()
        return F.layer_norm(x, shape, weight, bias, eps), rstd

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, shape, weight, bias, _ = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(x, weight, output[1])
        ctx.ndim = len(shape)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _: Any) -> tuple[Any, ...]:  # type: ignore[override]
        x, weight, rstd = ctx.saved_tensors
        dims = tuple(range(-ctx.ndim, 0))
        gw = grad if weight is None else grad * weight
        # d/dx of (x - mean(x)) * rstd with rstd held constant: the centring stays, the scale does not.
        grad_x = (gw - gw.mean(dim=dims, keepdim=True)) * rstd if ctx.needs_input_grad[0] else None
        lead = tuple(range(grad.ndim - ctx.ndim))
        grad_w = grad_b = None
        if weight is not None and ctx.needs_input_grad[2]:
            grad_w = (grad * (x - x.mean(dim=dims, keepdim=True)) * rstd).sum(dim=lead)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_b = grad.sum(dim=lead)
        return grad_x, None, grad_w, grad_b, None


def layer_norm_identity(
    x: torch.Tensor,
    normalized_shape: Sequence[int],
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``F.layer_norm(x, ...)`` whose backward holds the standard deviation constant (AttnLRP's rule for
    LayerNorm, Achtibat et al. 2024, §3.3.3 and Eq. 9; Ali et al. 2022's LN-rule; lxt's
    ``layer_norm_forward``): the gradient of ``(x - mean(x)) / stop_gradient(std) * weight + bias``.

    Parameters
    ----------
    x
        ``[..., *normalized_shape]``.
    normalized_shape, weight, bias, eps
        As :func:`torch.nn.functional.layer_norm`.
    """
    return _LayerNormIdentity.apply(x, tuple(int(d) for d in normalized_shape), weight, bias, float(eps))[0]


class _LinearEpsilon(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        x: torch.Tensor, weight: torch.Tensor, bias: Any, epsilon: float
    ) -> torch.Tensor:
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, weight, bias, epsilon = inputs
        ctx.save_for_backward(x, weight, output)
        ctx.epsilon = epsilon
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        x, weight, z = ctx.saved_tensors
        # LRP-ε with output relevance z ⊙ grad: R_in = x ⊙ Wᵀ(z ⊙ grad / (z + ε sign z)).
        g = grad * (z / stabilise(z, ctx.epsilon))
        grad_x = g @ weight if ctx.needs_input_grad[0] else None
        grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_w = g.reshape(-1, g.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.reshape(-1, g.shape[-1]).sum(0)
        return grad_x, grad_w, grad_b, None


def linear_epsilon(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, epsilon: float = 1e-6
) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` whose backward is LRP-ε in Gradient×Input form (Bach et al. 2015;
    AttnLRP's rule for linear layers, Achtibat et al. 2024, Eq. 4; lxt's ``linear_epsilon``):
    ``grad_x = Wᵀ (grad ⊙ z / (z + ε·sign z))`` with ``z = Wx + b``. ``epsilon = 0`` is the gradient.

    Parameters
    ----------
    x
        ``[..., in_features]``.
    weight, bias
        ``[out_features, in_features]`` and ``[out_features]`` or ``None``.
    epsilon
        The stabiliser ``ε ≥ 0``; larger values absorb more relevance at small ``|z|``.
    """
    if epsilon == 0:
        return F.linear(x, weight, bias)
    return _LinearEpsilon.apply(x, weight, bias, float(epsilon))


def safe_divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a / (b + 1e-9)`` where ``b ≠ 0``, else 0: the stabiliser of Chefer et al.'s published LRP code
    (``modules/layers_ours.py``), reproduced exactly so their rules are too."""
    den = b.clamp(min=1e-9) + b.clamp(max=1e-9)
    den = den + den.eq(0).to(den.dtype) * 1e-9
    return a / den * b.ne(0).to(b.dtype)


class _LinearZPlus(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: Any) -> Any:  # type: ignore[override]
        positive = F.linear(x.clamp(min=0), weight.clamp(min=0)) + F.linear(x.clamp(max=0), weight.clamp(max=0))
        return F.linear(x, weight, bias), positive

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(inputs[0], inputs[1], output[0], output[1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _: Any) -> tuple[Any, ...]:  # type: ignore[override]
        x, weight, z, positive = ctx.saved_tensors
        s = safe_divide(z * grad, positive)
        grad_x = torch.where(x > 0, s @ weight.clamp(min=0), torch.where(x < 0, s @ weight.clamp(max=0), 0.0))
        return grad_x, None, None


def linear_zplus(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` whose backward is LRP-αβ with ``α = 1, β = 0`` in Gradient×Input form,
    as Chefer et al.'s code applies it to every linear layer (``Linear.relprop`` with ``alpha=1``):
    ``R_in = x⁺ ⊙ W⁺ᵀ S + x⁻ ⊙ W⁻ᵀ S``, ``S = R_out / (W⁺x⁺ + W⁻x⁻)``, the bias ignored. The
    weight and bias receive no gradient.

    Parameters
    ----------
    x
        ``[..., in_features]``.
    weight, bias
        ``[out_features, in_features]`` and ``[out_features]`` or ``None``.
    """
    return _LinearZPlus.apply(x, weight, bias)[0]


class _NormalisedSum(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        a: torch.Tensor, b: torch.Tensor, call: Callable[..., torch.Tensor]
    ) -> torch.Tensor:
        return call(a, b)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0], inputs[1], output)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        a, b, z = ctx.saved_tensors
        s = safe_divide(z * grad, z)
        dims = tuple(range(1, z.ndim)) if z.ndim > 1 else (0,)
        sum_a, sum_b = (a * s).sum(dims, keepdim=True), (b * s).sum(dims, keepdim=True)
        total = (z * grad).sum(dims, keepdim=True)
        share_a = safe_divide(sum_a.abs(), sum_a.abs() + sum_b.abs()) * total
        share_b = safe_divide(sum_b.abs(), sum_a.abs() + sum_b.abs()) * total
        return s * safe_divide(share_a, sum_a), s * safe_divide(share_b, sum_b), None


def normalised_sum(a: torch.Tensor, b: torch.Tensor, call: Callable[..., torch.Tensor] | None = None) -> torch.Tensor:
    """``a + b`` whose backward splits the relevance as Chefer et al.'s code does at a residual connection
    (``Add.relprop``): Gradient×Input shares, each rescaled so branch ``a`` gets ``|ΣR_a| / (|ΣR_a| +
    |ΣR_b|)`` of ``ΣR_out`` (sums per image over all other axes; their code sums over the batch too,
    which is the same at batch size 1), keeping relevance conserved and non-negative in total per branch.

    Parameters
    ----------
    a, b
        Tensors of one shape, ``[N, ...]``.
    call
        The original sum, ``call(a, b) == a + b`` (default ``torch.add``).
    """
    return _NormalisedSum.apply(a, b, call or torch.add)
