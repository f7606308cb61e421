"""The one custom autograd function: a rectifier whose forward is PyTorch's own and whose backward is a rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attribkit.rules._rule import Rule


class RuledRectifier(torch.autograd.Function):
    """``y = call(x)`` exactly as the model asked for it (in place or not); backward by ``rule``.

    The forward runs the original function, so forward values, dtypes and in-place semantics cannot change.
    The ``setup_context`` style with ``generate_vmap_rule`` makes the function usable under ``torch.func``
    transforms; the batched backward of ``GradientAttributor`` (``is_grads_batched=True``) needs no more than
    elementwise ops in the rule.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        x: torch.Tensor,
        rule: Rule,
        upper: float,
        call: Callable[[torch.Tensor], torch.Tensor],
        inplace: bool,
    ) -> torch.Tensor:
        return call(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, rule, upper, _, inplace = inputs
        if inplace:
            # The model's in-place activation stays in place: callers holding ``x`` see the new values.
            ctx.mark_dirty(x)
        ctx.save_for_backward(output)
        ctx.rule = rule
        ctx.upper = upper

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        (output,) = ctx.saved_tensors
        return ctx.rule.rectifier_backward(grad_out, output, ctx.upper), None, None, None, None
