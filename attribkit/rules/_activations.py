"""Which torch functions are rectifiers the rules cover, which activations they do not, and how to read calls.

A ``TorchFunctionMode`` sees a call by its *first* Python-visible entry point (``F.relu`` hides the
``torch.relu`` it calls), so every spelling is listed: module activations (``nn.ReLU`` -> ``F.relu``,
``nn.ReLU6``/``nn.Hardtanh`` -> ``F.hardtanh``), functional, ``torch.*``, ``Tensor`` methods and in-place
variants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F


class RectifierCall(NamedTuple):
    """A call of ``y = clamp(x, 0, upper)``: its input, upper clamp and whether it writes in place."""

    input: torch.Tensor
    upper: float
    inplace: bool


#: ``parse(*args, **kwargs)`` -> the call, or ``None`` when this particular call is not a rectifier
#: (``hardtanh(x, -1, 1)``, ``threshold(x, 0.5, 0)``).
Parser = Callable[..., "RectifierCall | None"]


def _relu(input: torch.Tensor, inplace: bool = False) -> RectifierCall:
    return RectifierCall(input, math.inf, bool(inplace))


def _relu_(input: torch.Tensor) -> RectifierCall:
    return RectifierCall(input, math.inf, True)


def _relu6(input: torch.Tensor, inplace: bool = False) -> RectifierCall:
    return RectifierCall(input, 6.0, bool(inplace))


def _relu6_(input: torch.Tensor) -> RectifierCall:
    return RectifierCall(input, 6.0, True)


def _hardtanh(
    input: torch.Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> RectifierCall | None:
    # Only hardtanh(x, 0, m) is a rectifier (ReLU6 is hardtanh(x, 0, 6)); hardtanh(x, -1, 1) is a squasher.
    if float(min_val) != 0.0 or not float(max_val) > 0.0:
        return None
    return RectifierCall(input, float(max_val), bool(inplace))


def _hardtanh_(
    input: torch.Tensor, min_val: float = -1.0, max_val: float = 1.0
) -> RectifierCall | None:
    return _hardtanh(input, min_val, max_val, True)


def _threshold(
    input: torch.Tensor, threshold: float, value: float, inplace: bool = False
) -> RectifierCall | None:
    if float(threshold) != 0.0 or float(value) != 0.0:
        return None
    return RectifierCall(input, math.inf, bool(inplace))


def _threshold_(input: torch.Tensor, threshold: float, value: float) -> RectifierCall | None:
    return _threshold(input, threshold, value, True)


_CANDIDATES: list[tuple[Any, Parser]] = [
    (F.relu, _relu),
    (torch.relu, _relu),
    (torch.Tensor.relu, _relu),
    (torch.relu_, _relu_),
    (F.relu_, _relu_),
    (torch.Tensor.relu_, _relu_),
    (F.relu6, _relu6),
    (torch._C._nn.relu6, _relu6),
    (torch._C._nn.relu6_, _relu6_),
    (F.hardtanh, _hardtanh),
    (torch._C._nn.hardtanh, _hardtanh),
    (F.hardtanh_, _hardtanh_),
    (torch._C._nn.hardtanh_, _hardtanh_),
    (F.threshold, _threshold),
    (torch.threshold, _threshold),
    (torch.threshold_, _threshold_),  # also F.threshold_ (the same object)
]

#: The rectifier entry points the rules replace, keyed by the function object a mode receives.
RECTIFIERS: dict[Any, Parser] = dict(_CANDIDATES)

_NOT_COVERED_NAMES = ["selu", "selu_", "celu", "celu_", "rrelu", "rrelu_", "prelu", "glu"]

#: Rectifier-like activations with neither a DeconvNet/guided definition nor a generalisation here: the
#: rules leave their plain gradient, and :func:`attribkit.rules.applied` warns (or raises) when a model
#: calls one. Sigmoid, tanh, softmax and hardsigmoid are gates or squashers, not rectifiers, and keep their
#: gradient without a warning. (GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish, Softplus are covered:
#: ``attribkit.rules._smooth``.)
NOT_COVERED: dict[Any, str] = {
    getattr(namespace, name): name
    for name in _NOT_COVERED_NAMES
    for namespace in (F, torch, torch._C._nn)
    if hasattr(namespace, name)
}

#: Module types of uncovered activations, matched with ``isinstance`` (subclasses too) before the forward.
NOT_COVERED_MODULES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.SELU, torch.nn.CELU, torch.nn.RReLU, torch.nn.PReLU, torch.nn.GLU,
)

#: Activations written in Python arithmetic (``x * x.sigmoid()``) or as their own autograd function, whose
#: calls a function-level check cannot recognise; matched by the exact qualified name of the class or of
#: a base class (never by fragments of names), so neither library needs importing.
PYTHON_ACTIVATIONS: frozenset[str] = frozenset(
    [f"timm.layers.activations.{n}" for n in ("Swish", "Mish", "HardSwish", "HardMish", "QuickGELU")]
    + [f"timm.layers.activations_me.{n}" for n in ("SwishMe", "MishMe", "HardSwishMe", "HardMishMe")]
    + [f"transformers.activations.{n}" for n in (
        "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation", "AccurateGELUActivation",
        "LaplaceActivation", "ReLUSquaredActivation")]
)


def not_covered_modules(model: torch.nn.Module) -> list[str]:
    """Names of the activation modules in ``model`` that the rules do not cover (sorted, unique).

    Matches types, never substrings of names: ``nn.PixelUnshuffle`` or a user's ``Model_elu_x`` is not an
    activation.
    """
    names = set()
    if isinstance(model, torch.jit.ScriptModule):
        names.add("TorchScript code (its activations are invisible to the rules)")
    for module in model.modules():
        if isinstance(module, NOT_COVERED_MODULES):
            names.add(type(module).__name__)
            continue
        for cls in type(module).__mro__:
            if f"{cls.__module__}.{cls.__qualname__}" in PYTHON_ACTIVATIONS:
                names.add(f"{cls.__module__}.{cls.__qualname__}")
                break
    return sorted(names)
