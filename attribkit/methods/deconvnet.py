"""Built-in plugins ``deconvnet`` and ``guided_backprop`` (Simonyan et al. 2013, section 5).

Both are the input gradient of the unnormalised class score with one change, at the rectifiers (ReLU,
ReLU6): DeconvNet passes ``relu(grad_out)``, guided backprop ``relu(grad_out)`` masked by the forward
switch. The rules and :class:`~attribkit.rules.RuleAttributor` live in the core (:mod:`attribkit.rules`);
this plugin only names them.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from attribkit.attribution import GradientAttributor
from attribkit.hookspecs import Registrar, hookimpl
from attribkit.rules import DeconvNet, GuidedBackprop, RuleAttributor

#: What the factories accept: the rule's policy for uncovered activations, then the gradient engine's
#: own options (read from its signature, so the two cannot drift apart).
OPTIONS = ("unsupported", *list(inspect.signature(GradientAttributor).parameters)[1:])


def deconvnet(model: torch.nn.Module, **options: Any) -> RuleAttributor:
    """DeconvNet reconstruction of the class score (ReLU applied to the backward signal)."""
    return RuleAttributor(model, rule=DeconvNet(), **options)


def guided_backprop(model: torch.nn.Module, **options: Any) -> RuleAttributor:
    """Guided backpropagation (gradient masked by both the forward and the backward sign)."""
    return RuleAttributor(model, rule=GuidedBackprop(), **options)


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "deconvnet",
        deconvnet,
        description="DeconvNet: the gradient with ReLU applied to the backward signal (paper section 5)",
        options=OPTIONS,
    )
    registry.add_attributor(
        "guided_backprop",
        guided_backprop,
        description="guided backprop: the gradient masked by the forward and backward ReLU signs",
        options=OPTIONS,
    )
