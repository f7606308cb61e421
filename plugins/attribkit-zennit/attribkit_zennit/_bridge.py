"""Zennit's LRP composites behind attribkit's ``attribute()`` contract.

The relevance of class ``c`` is Zennit's ``Gradient`` attributor with the composite registered and the
output relevance one-hot at ``c`` (Zennit's documented use: ``attributor(x, torch.eye(C)[[c]])``); it
has the input's shape ``[N, C, H, W]``, like the gradient. Zennit works *on the model*: canonizers
rewrite batch-norm and convolution parameters and rules hook every layer while the call runs (both
undone on exit, also after an exception). Calls on one model therefore take turns (a lock per model),
and the model must not be used by other threads meanwhile.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import torch

from attribkit import TargetType, check_inputs, check_model, class_scores, frozen, resolve_targets

from attribkit_zennit._canonizers import CANONIZERS, canonizers_for

_locks: weakref.WeakKeyDictionary[torch.nn.Module, threading.Lock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def _model_lock(model: torch.nn.Module) -> threading.Lock:
    with _locks_lock:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.Lock()
        return lock


class ClassScores(torch.nn.Module):
    """``model`` as a function of the input alone returning class scores ``[N, C]``
    (:func:`attribkit.class_scores`), so tuple, dict and ``ModelOutput`` models and extra arguments work."""

    def __init__(self, model: torch.nn.Module, extra: tuple[Any, ...] = ()) -> None:
        super().__init__()
        self.model = model
        self.extra = extra

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return class_scores(self.model, inputs, *self.extra)


class ZennitAttributor:
    """LRP relevance of one Zennit composite.

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

    #: Zennit rules assume eval-mode batch norm (running statistics), which the canonizers merge.
    eval_mode = True

    def __init__(self, model: torch.nn.Module, *, epsilon: float = 1e-6, stabilizer: float = 1e-6,
                 canonizer: str = "auto") -> None:
        self.model = check_model(model)
        self.epsilon, self.stabilizer = epsilon, stabilizer
        canonizers_for(model, canonizer)  # checks the name now, not at the first call
        self.canonizer = canonizer

    def composite(self) -> Any:
        """A fresh composite with fresh canonizers for :attr:`model`."""
        return self.composite_class(epsilon=self.epsilon, stabilizer=self.stabilizer,
                                    canonizers=canonizers_for(self.model, self.canonizer))

    def attribute(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> torch.Tensor:
        """Relevance of each input value for the target classes.

        Parameters
        ----------
        inputs
            ``[N, C, H, W]``, preprocessed for the model.
        target, top_k, additional_forward_args
            As :meth:`attribkit.Attributor.attribute`.

        Returns
        -------
        torch.Tensor
            ``[N, C, H, W]`` (or ``[N, K, C, H, W]`` for K classes per image): signed relevance, summing
            to about 1 per image and class where the rules conserve it (less what biases absorb).
        """
        from zennit.attribution import Gradient

        check_inputs(inputs)
        scorer = ClassScores(self.model, tuple(additional_forward_args or ()))
        x = inputs.detach()
        with frozen(self.model), _model_lock(self.model):
            with torch.no_grad():
                scores = scorer(x)
            targets = resolve_targets(target, top_k, scores)
            maps = []
            with torch.enable_grad(), Gradient(scorer, self.composite()) as attributor:
                for k in range(targets.k):
                    one_hot = torch.zeros_like(scores).scatter_(1, targets.index[:, k : k + 1], 1.0)
                    _, relevance = attributor(x.clone().requires_grad_(True), one_hot)
                    maps.append(relevance.detach())
        out = torch.stack(maps, dim=1)
        return out[:, 0] if targets.single else out
