"""The custom autograd function: a rectifier whose forward is PyTorch's own and whose backward is a rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attribkit.rules._rule import Rule

Call = Callable[[torch.Tensor], torch.Tensor]


def _remember(ctx: Any, x: torch.Tensor, rule: Rule, upper: float, inplace: bool, output: torch.Tensor) -> None:
    if inplace:
        # The model's in-place activation stays in place: callers holding ``x`` see the new values.
        ctx.mark_dirty(x)
    ctx.save_for_backward(output)
    ctx.rule = rule
    ctx.upper = upper


def _backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
    (output,) = ctx.saved_tensors
    if grad_out.dtype in _HALF or output.dtype in _HALF:
        # Under bf16/fp16 autocast the rule still computes in float32 (attribkit.study._precision); what it
        # passes back takes the dtype autograd expects there.
        grad = ctx.rule.rectifier_backward(grad_out.float(), output.float(), ctx.upper)
        return grad.to(grad_out.dtype), None, None, None, None
    return ctx.rule.rectifier_backward(grad_out, output, ctx.upper), None, None, None, None


#: The half-precision dtypes of autocast.
_HALF = (torch.float16, torch.bfloat16)


class _TransformableRectifier(torch.autograd.Function):
    """The ``setup_context`` form with ``generate_vmap_rule``, which ``torch.func`` transforms require."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, rule: Rule, upper: float, call: Call, inplace: bool) -> torch.Tensor:  # type: ignore[override]
        return call(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, rule, upper, _, inplace = inputs
        _remember(ctx, x, rule, upper, inplace, output)

    backward = staticmethod(_backward)  # type: ignore[assignment]


class _PlainRectifier(torch.autograd.Function):
    """The classic form: ``apply`` skips the per-call signature binding of the ``setup_context`` form
    (tens of microseconds, about 5% of a CPU backward pass on EfficientNet-Lite0's 33 ReLU6)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: Rule, upper: float, call: Call, inplace: bool) -> torch.Tensor:  # type: ignore[override]
        output = call(x)
        _remember(ctx, x, rule, upper, inplace, output)
        return output

    backward = staticmethod(_backward)  # type: ignore[assignment]


class RuledRectifier:
    """``y = call(x)`` exactly as the model asked for it (in place or not); its backward is ``rule``'s.

    The forward runs the original function, so forward values, dtypes and in-place semantics cannot
    change. Under ``torch.func`` transforms the ``setup_context`` form (with ``generate_vmap_rule``) is
    used; otherwise the cheaper classic form. The batched backward of ``GradientAttributor``
    (``is_grads_batched=True``) works with both, as long as the rule uses elementwise ops.
    """

    @staticmethod
    def apply(x: torch.Tensor, rule: Rule, upper: float, call: Call, inplace: bool) -> torch.Tensor:
        """Run ``call(x)`` and record ``rule`` as its backward."""
        if torch._C._are_functorch_transforms_active():
            return _TransformableRectifier.apply(x, rule, upper, call, inplace)
        return _PlainRectifier.apply(x, rule, upper, call, inplace)
