"""Which of Zennit's canonizers prepare a model for LRP.

LRP rules are defined for linear layers followed by activations; a batch norm after a convolution is
merged into it first (Zennit's ``SequentialMergeBatchNorm``, which pairs each linear layer with a batch
norm that directly follows it in module order). torchvision ResNets also add the skip connection with
``+``, which no hook sees: Zennit's ``ResNetCanonizer`` routes it through a ``Sum`` module (and merges
batch norms), so relevance is split between the two branches by the ``Sum`` rule.
"""

from __future__ import annotations

from typing import Any

import torch

from attribkit.errors import OptionError

#: ``canonizer=`` values: ``"auto"`` picks ``"resnet"`` for models holding torchvision ResNet blocks and
#: ``"sequential"`` for the rest.
CANONIZERS = ("auto", "resnet", "sequential", "none")


def _has_resnet_blocks(model: torch.nn.Module) -> bool:
    from torchvision.models.resnet import BasicBlock, Bottleneck

    return any(isinstance(m, (BasicBlock, Bottleneck)) for m in model.modules())


def canonizers_for(model: torch.nn.Module, choice: str) -> list[Any]:
    """Fresh Zennit canonizer instances for ``model`` (each call: they hold the merged parameters).

    Raises
    ------
    OptionError
        ``choice`` is not one of :data:`CANONIZERS`.
    """
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer

    if choice not in CANONIZERS:
        raise OptionError(f"canonizer must be one of {', '.join(CANONIZERS)}; got {choice!r}")
    if choice == "auto":
        choice = "resnet" if _has_resnet_blocks(model) else "sequential"
    if choice == "resnet":
        return [ResNetCanonizer()]
    if choice == "sequential":
        return [SequentialMergeBatchNorm()]
    return []
