"""The plugin's method: the input times the gradient of the class score."""

from __future__ import annotations

from typing import Any

import torch

import attribkit


class GradientXInput(attribkit.GradientAttributor):
    """``x * dS_c/dx``.

    Subclassing :class:`attribkit.GradientAttributor` gives the whole ``attribute()`` contract (int,
    ``[N]`` and ``[N, K]`` targets, ``top_k``, ten-crop averaging, the model's mode restored).
    """

    def attribute(self, inputs: torch.Tensor, target: Any = None, **options: Any) -> torch.Tensor:
        grads = super().attribute(inputs, target, **options)
        # [N, K, C, H, W] for several targets per image: every class's gradient meets the same input.
        return grads * (inputs if grads.ndim == 4 else inputs.unsqueeze(1))
