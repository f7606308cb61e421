"""Built-in plugins ``deconvnet`` and ``guided_backprop`` (Simonyan et al. 2013, section 5).

Both are the input gradient of the unnormalised class score with one change, at the rectifiers (ReLU,
ReLU6): DeconvNet passes ``relu(grad_out)``, guided backprop ``relu(grad_out)`` masked by the forward
switch. The rules live in :mod:`attribkit.rules`; here they are only put in force around the model.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from attribkit._gradient import GradientAttributor
from attribkit.hookspecs import hookimpl
from attribkit.rules import DeconvNet, GuidedBackprop, Rule, UnsupportedPolicy, applied


class RuleAttributor(GradientAttributor):
    """A :class:`~attribkit.GradientAttributor` whose model runs under a backward :class:`Rule`.

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
        ``ten_crop``, ``crop_fraction``, ``eval_mode`` as for :class:`~attribkit.GradientAttributor`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        rule: Rule,
        unsupported: UnsupportedPolicy = "warn",
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        self.rule = rule
        self.unsupported = unsupported

    def backward_rules(self) -> AbstractContextManager[Any]:
        # Scoped to self.model: anything else run in this thread meanwhile keeps its plain gradient.
        return applied(self.rule, self.model, unsupported=self.unsupported)


def deconvnet(model: torch.nn.Module, **options: Any) -> RuleAttributor:
    """DeconvNet reconstruction of the class score (ReLU applied to the backward signal)."""
    return RuleAttributor(model, rule=DeconvNet(), **options)


def guided_backprop(model: torch.nn.Module, **options: Any) -> RuleAttributor:
    """Guided backpropagation (gradient masked by both the forward and the backward sign)."""
    return RuleAttributor(model, rule=GuidedBackprop(), **options)


@hookimpl
def attribkit_register(registry):  # type: ignore[no-untyped-def]
    registry.add_attributor(
        "deconvnet",
        deconvnet,
        description="DeconvNet: the gradient with ReLU applied to the backward signal (paper section 5)",
    )
    registry.add_attributor(
        "guided_backprop",
        guided_backprop,
        description="guided backprop: the gradient masked by the forward and backward ReLU signs",
    )
