"""Scoped changes to a model's train/eval mode and ``requires_grad`` flags, always undone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
