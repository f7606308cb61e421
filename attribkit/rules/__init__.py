"""The backward-rule engine: DeconvNet, guided backprop and any rule a plugin writes (paper section 5).

A :class:`Rule` says how a rectifier ``y = clamp(x, 0, upper)`` passes the backward signal;
:func:`applied` puts a rule in force for a ``with`` block, catching module, functional, ``Tensor``-method
and in-place ReLU/ReLU6 alike, and undoes everything on exit. See ``docs/rules.md``.

Example
-------
>>> import torch
>>> from attribkit.rules import DeconvNet, applied
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
>>> x = torch.randn(1, 3, requires_grad=True)
>>> with applied(DeconvNet(), net):
...     grad, = torch.autograd.grad(net(x)[0, 1], x)
"""

from attribkit.rules._activations import NOT_COVERED, RECTIFIERS, RectifierCall
from attribkit.rules._applied import (
    ActiveRule,
    UnsupportedActivationError,
    UnsupportedActivationWarning,
    UnsupportedPolicy,
    applied,
)
from attribkit.rules._attributor import RelevanceAttributor, RuleAttributor
from attribkit.rules._function import RuledRectifier
from attribkit.rules._lrp import CPLRP, AttnLRP, CheferLRP
from attribkit.rules._relevance import (
    identity_rule,
    layer_norm_identity,
    linear_epsilon,
    linear_zplus,
    normalised_sum,
    safe_divide,
    scale_gradient,
    stabilise,
)
from attribkit.rules._rule import DeconvNet, Gradient, GuidedBackprop, Rule

__all__ = [
    "ActiveRule",
    "AttnLRP",
    "CPLRP",
    "CheferLRP",
    "DeconvNet",
    "Gradient",
    "GuidedBackprop",
    "NOT_COVERED",
    "RECTIFIERS",
    "RectifierCall",
    "RelevanceAttributor",
    "Rule",
    "RuleAttributor",
    "RuledRectifier",
    "UnsupportedActivationError",
    "UnsupportedActivationWarning",
    "UnsupportedPolicy",
    "applied",
    "identity_rule",
    "layer_norm_identity",
    "linear_epsilon",
    "linear_zplus",
    "normalised_sum",
    "safe_divide",
    "scale_gradient",
    "stabilise",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.rules", globals(), __all__)
