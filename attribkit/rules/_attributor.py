"""Attributors whose model runs under a backward rule: DeconvNet, guided backprop, LRP (AttnLRP, CP-LRP), plugins."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

from attribkit._core.scored import Scored
from attribkit.attribution._gradient import GradientAttributor
from attribkit.errors import OptionError
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
        rule: Rule | Sequence[Rule],
        unsupported: UnsupportedPolicy = "warn",
        **options: Any,
    ) -> None:
        rules = tuple(rule) if isinstance(rule, (list, tuple)) else (rule,)
        bad = next((r for r in rules if not isinstance(r, Rule)), None) if rules else rule
        if bad is not None:
            raise OptionError(f"rule must be an attribkit.rules.Rule; got {type(bad).__name__}")
        super().__init__(model, **options)
        self.rule = rule
        self.unsupported = unsupported

    def backward_rules(self) -> AbstractContextManager[Any]:
        """The rule in force for this model's forward (and the backward run in the same block)."""
        # Scoped to self.model: anything else run in this thread meanwhile keeps its plain gradient.
        return applied(self.rule, self.model, unsupported=self.unsupported)


class RelevanceAttributor(RuleAttributor):
    """LRP in the Gradient×Input framework: ``inputs ⊙ ∂'S_c/∂inputs``, the input times its gradient
    under relevance rules (Achtibat et al., ICML 2024, §3.3), e.g. :class:`~attribkit.rules.AttnLRP`.

    Same ``attribute()`` contract as ``saliency`` (targets, ``[N, K]`` targets, ``top_k``; K classes cost
    one forward pass); the answer is the per-pixel, per-channel relevance ``[N, C, H, W]`` (or
    ``[N, K, C, H, W]``), signed. Its sum over ``C, H, W`` is the explained score minus what the rules do
    not conserve (biases, ε, softmax) and what learned inputs (a class token, position embeddings) keep:
    see ``docs/rules.md``, "Relevance rules".

    Parameters
    ----------
    model
        The classifier.
    rule
        The relevance rule (or rules, first covering rule wins; see :func:`attribkit.rules.applied`).
    unsupported, **options
        As :class:`RuleAttributor`.
    """

    def attribute_scored(
        self,
        inputs: torch.Tensor,
        target: Any = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> Scored:
        """:meth:`attribute` and the class scores of the same forward pass.

        Returns
        -------
        Scored
            Relevance ``[N, K, C, H, W]``, scores ``[N, num_classes]`` (detached), the targets.
        """
        scored = super().attribute_scored(inputs, target, top_k=top_k, additional_forward_args=additional_forward_args)
        relevance = scored.attributions * inputs.detach().unsqueeze(1)
        return Scored(relevance, scored.scores, scored.targets)
