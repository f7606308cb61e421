"""An attributor whose model runs under a backward rule: the base of DeconvNet, guided backprop and plugins."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from attribkit.attribution._gradient import GradientAttributor
from attribkit.rules._applied import UnsupportedPolicy, applied
from attribkit.rules._rule import Rule


class RuleAttributor(GradientAttributor):
    """A :class:`~attribkit.GradientAttributor` whose model runs under a backward :class:`Rule`.

    Same ``attribute()`` contract as ``saliency`` (targets, ``[N, K]`` targets, ``top_k``, 10-crop);
    only :meth:`backward_rules` differs.

    Parameters
    ----------
    model
        The classifier.
    rule
        The backward rule for the model's rectifiers.
    unsupported
        ``"warn"``, ``"raise"`` or ``"ignore"`` on meeting an activation the rule does not cover (SiLU,
        GELU, ...); see :func:`attribkit.rules.applied`.
    **options
        ``eval_mode`` and ``batched_backward`` as for :class:`~attribkit.GradientAttributor`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        rule: Rule,
        unsupported: UnsupportedPolicy = "warn",
        **options: Any,
    ) -> None:
        if not isinstance(rule, Rule):
            raise TypeError(f"rule must be an attribkit.rules.Rule; got {type(rule).__name__}")
        super().__init__(model, **options)
        self.rule = rule
        self.unsupported = unsupported

    def backward_rules(self) -> AbstractContextManager[Any]:
        """The rule in force for this model's forward (and the backward run in the same block)."""
        # Scoped to self.model: anything else run in this thread meanwhile keeps its plain gradient.
        return applied(self.rule, self.model, unsupported=self.unsupported)
