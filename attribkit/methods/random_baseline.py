"""Built-in plugin ``random``: a random attribution, the baseline every method must beat.

Petsiuk et al. (2018) and most faithfulness studies report a random map beside the real methods: a
deletion or insertion score is only meaningful relative to it.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch

from attribkit import TargetType, check_inputs, check_model, class_scores, resolve_targets
from attribkit.hookspecs import Registrar, hookimpl


class RandomAttribution:
    """Uniform noise in ``[0, 1)`` with the attribute() contract's shape.

    The noise is a function of ``seed`` and the input values, so the same image always gets the same
    map (repeatable and resumable studies) while different images get different maps.

    Parameters
    ----------
    model
        The classifier (run once, only to resolve ``None`` and ``top_k`` targets).
    seed
        Mixed with a checksum of each image.
    """

    def __init__(self, model: torch.nn.Module, *, seed: int = 0) -> None:
        self.model = check_model(model)
        self.seed = seed

    def attribute(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> torch.Tensor:
        """Random ``[N, C, H, W]`` (or ``[N, K, C, H, W]`` for ``[N, K]`` targets and ``top_k``)."""
        check_inputs(inputs)
        with torch.no_grad():
            targets = resolve_targets(target, top_k, class_scores(self.model, inputs, *(additional_forward_args or ())))
        maps = []
        for image in inputs.detach().cpu():
            generator = torch.Generator().manual_seed(self.seed ^ zlib.crc32(image.numpy().tobytes()))
            maps.append(torch.rand((targets.k, *image.shape), generator=generator, dtype=image.dtype))
        out = torch.stack(maps).to(inputs.device)
        return out[:, 0] if targets.single else out


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "random", RandomAttribution, description="uniform random map: the faithfulness baseline"
    )
