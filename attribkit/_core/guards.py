"""Guards around a model: argument checks every attributor makes (worded alike), and scoped changes to a
model's train/eval mode and ``requires_grad`` flags, always undone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


@contextmanager
def frozen(model: torch.nn.Module, *, eval_mode: bool = True) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode with parameters that need no gradient; restore both on exit.

    Attribution differentiates with respect to the *input* only: weights that do not require grad spare
    autograd from saving what only a weight gradient needs. The previous mode of every submodule and the
    flag of every parameter are restored in ``finally``, so an exception in the forward or backward pass
    leaves the model as it was.
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if eval_mode:
            model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, training in modes:
            m.training = training


def check_model(model: Any) -> torch.nn.Module:
    """``model`` itself, or a ``TypeError`` if it is not an ``nn.Module``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return model


def check_inputs(inputs: Any) -> torch.Tensor:
    """``inputs`` itself if it is a float ``[N, C, H, W]`` tensor; ``TypeError``/``ValueError`` otherwise.

    Example
    -------
    >>> check_inputs(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 3, 8, 8])
    """
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor; got {type(inputs).__name__}")
    if inputs.ndim != 4 or not inputs.is_floating_point():
        raise ValueError(
            f"inputs must be a float tensor [N, C, H, W]; got {inputs.dtype} {tuple(inputs.shape)}"
        )
    return inputs


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters), where its inputs go."""
    return next(iter(model.parameters()), torch.empty(0)).device
