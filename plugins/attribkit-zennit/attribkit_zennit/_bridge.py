"""Zennit's LRP composites behind attribkit's ``attribute()`` contract.

The relevance of class ``c`` is Zennit's ``Gradient`` attributor with the composite registered and the
output relevance one-hot at ``c`` (Zennit's documented use: ``attributor(x, torch.eye(C)[[c]])``); it
has the input's shape ``[N, C, H, W]``, like the gradient. Zennit works *on the model*: canonizers
rewrite batch-norm and convolution parameters and rules hook every layer while the call runs (both
undone on exit, also after an exception). Calls therefore have the model to themselves: other threads'
calls on it, or on models sharing its modules, wait (``PerClassAttributor.exclusive``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from attribkit import class_scores
from attribkit.attribution import Explainer, PerClassAttributor

from attribkit_zennit._canonizers import CANONIZERS, canonizers_for

class ClassScores(torch.nn.Module):
    """``model`` as a function of the input alone returning class scores ``[N, C]``
    (:func:`attribkit.class_scores`), so tuple, dict and ``ModelOutput`` models and extra arguments work."""

    def __init__(self, model: torch.nn.Module, extra: tuple[Any, ...] = ()) -> None:
        super().__init__()
        self.model = model
        self.extra = extra

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return class_scores(self.model, inputs, *self.extra)


class ZennitAttributor(PerClassAttributor):
    """LRP relevance of one Zennit composite, one class per call (:class:`attribkit.attribution.PerClassAttributor`).

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]``.
    epsilon, stabilizer
        The composite's stabilisers: ``epsilon`` of the Epsilon rule on fully connected layers, and
        ``stabilizer`` of the other rules (Zennit's defaults, ``1e-6``).
    canonizer
        ``"auto"`` (torchvision ResNets: Zennit's ``ResNetCanonizer``; other models:
        ``SequentialMergeBatchNorm``), ``"resnet"``, ``"sequential"`` or ``"none"``.

    Raises
    ------
    OptionError
        ``canonizer`` is not one of those.
    """

    #: The Zennit composite class (a ``zennit.core.Composite``) a subclass applies.
    composite_class: Callable[..., Any]

    #: Canonizers rewrite the model's parameters and rules hook its layers while a call runs.
    exclusive = True

    def __init__(self, model: torch.nn.Module, *, epsilon: float = 1e-6, stabilizer: float = 1e-6,
                 canonizer: str = "auto") -> None:
        # Zennit rules assume eval-mode batch norm (running statistics), which the canonizers merge.
        super().__init__(model, eval_mode=True)
        self.epsilon, self.stabilizer = epsilon, stabilizer
        canonizers_for(model, canonizer)  # checks the name now, not at the first call
        self.canonizer = canonizer

    def composite(self) -> Any:
        """A fresh composite with fresh canonizers for :attr:`model`."""
        return self.composite_class(epsilon=self.epsilon, stabilizer=self.stabilizer,
                                    canonizers=canonizers_for(self.model, self.canonizer))

    @contextmanager
    def explaining(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> Iterator[Explainer]:
        """Zennit's ``Gradient`` attributor with a fresh composite for one call (undone on exit); each
        class is one call with the output relevance one-hot at that class: ``[N, C, H, W]`` signed
        relevance, summing to about 1 per image and class where the rules conserve it (less what biases
        absorb)."""
        from zennit.attribution import Gradient

        scorer = ClassScores(self.model, extra)
        with torch.no_grad():
            scores = scorer(inputs)
        with torch.enable_grad(), Gradient(scorer, self.composite()) as attributor:

            def one_class(target: torch.Tensor) -> torch.Tensor:
                one_hot = torch.zeros_like(scores).scatter_(1, target[:, None], 1.0)
                with torch.enable_grad():
                    _, relevance = attributor(inputs.clone().requires_grad_(True), one_hot)
                return relevance.detach()

            yield scores, one_class
