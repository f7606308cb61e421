"""Argument checks every attributor makes, in one place so all of them word their errors alike."""

from __future__ import annotations

from typing import Any

import torch


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
