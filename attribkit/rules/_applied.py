"""``applied(rule, model)``: replace the backward of a model's rectifiers for the duration of a ``with`` block.

Why a ``TorchFunctionMode`` and not module hooks: hooks on ``nn.ReLU`` miss ``F.relu``, ``torch.relu``,
``Tensor.relu()``, in-place calls and ReLU6, and a reused module fires its hooks once per call with
whatever state the last call left. A mode sees every call of a torch function, whatever spelled it. Modes
live on a *thread-local* stack, so another thread running any model is untouched; and with ``model=`` the
rule is further limited to calls made while that model's forward runs (two root-module hooks keep count,
and only for the thread that entered). Everything is undone in ``finally``: the mode is popped and both
hooks removed even when the forward or the backward raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

import torch
from torch.overrides import TorchFunctionMode

from attribkit._core.hooks import thread_hooks
from attribkit.rules._activations import NOT_COVERED, RECTIFIERS, not_covered_modules
from attribkit.rules._function import RuledRectifier
from attribkit.errors import UnsupportedActivationError, UnsupportedActivationWarning
from attribkit.rules._rule import Rule
from attribkit.rules._smooth import SMOOTH, covers_activations, ruled_activation

UnsupportedPolicy = Literal["warn", "raise", "ignore"]
_POLICIES = ("warn", "raise", "ignore")


class ActiveRule(TorchFunctionMode):
    """What :func:`applied` yields: the rule in force and what it has met so far.

    Attributes
    ----------
    rule
        The rule being applied.
    replaced
        How many rectifier calls had their backward replaced (calls under ``no_grad`` or on tensors that
        need no gradient are left alone: they have no backward).
    not_covered
        Names of the activations met that the rule does not cover, in order of first meeting.
    """

    def __init__(self, rule: Rule, *, unsupported: UnsupportedPolicy, scoped: bool) -> None:
        super().__init__()
        self.rule = rule
        self.unsupported = unsupported
        self.replaced = 0
        self.not_covered: list[str] = []
        # Active while > 0; with a model it counts that model's (possibly nested) forward calls.
        self.depth = 0 if scoped else 1

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if self.depth > 0:
            parse = RECTIFIERS.get(func)
            if parse is not None:
                try:
                    call = parse(*args, **kwargs)
                except TypeError:  # an unusual spelling (out=...): let torch answer it as it would
                    return func(*args, **kwargs)
                if call is None:
                    self.meet(f"{getattr(func, '__name__', func)} with bounds other than (0, m)")
                elif torch.is_grad_enabled() and call.input.requires_grad:
                    self.replaced += 1
                    return RuledRectifier.apply(
                        call.input, self.rule, call.upper, _rebind(func, args, kwargs), call.inplace
                    )
            elif func in SMOOTH:
                return self._smooth(func, args, kwargs)
            elif func in NOT_COVERED:
                self.meet(NOT_COVERED[func])
        return func(*args, **kwargs)

    def _smooth(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A smooth or leaky activation (GELU, SiLU, ...): the rule's generalisation, if it has one."""
        try:
            call = SMOOTH[func](*args, **kwargs)
        except (TypeError, KeyError, IndexError):  # an unusual spelling: let torch answer it as it would
            return func(*args, **kwargs)
        if not covers_activations(self.rule):
            self.meet(call.name)
        elif torch.is_grad_enabled() and isinstance(call.input, torch.Tensor) and call.input.requires_grad:
            self.replaced += 1
            return ruled_activation(call.input, self.rule, _rebind(func, args, kwargs), call.inplace)
        return func(*args, **kwargs)

    def meet(self, name: str) -> None:
        """Record an activation the rule does not cover, and warn or raise as the policy says."""
        # One report per activation, whether met as a module class (SiLU) or a function (silu).
        if _key(name) in {_key(met) for met in self.not_covered}:
            return
        self.not_covered.append(name)
        if self.unsupported == "ignore":
            return
        covered = "ReLU, ReLU6, hardtanh(x, 0, m)" + (_SMOOTH_NAMES if covers_activations(self.rule) else "")
        message = (
            f"the {self.rule.name} rule covers {covered} only; the model uses {name}, which keeps its "
            "plain gradient (see docs/rules.md). Pass unsupported='ignore' to accept this or "
            "unsupported='raise' to refuse."
        )
        if self.unsupported == "raise":
            raise UnsupportedActivationError(message)
        warnings.warn(message, UnsupportedActivationWarning, stacklevel=3)


_SMOOTH_NAMES = ", GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish, Softplus"


def _key(name: str) -> str:
    return name.lower().replace("_", "")


def _rebind(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The original call with its input replaced (``torch.func`` transforms hand forward a new tensor)."""
    if args:
        rest = args[1:]
        return lambda x: func(x, *rest, **kwargs)
    return lambda x: func(**{**kwargs, "input": x})


@contextmanager
def applied(
    rule: Rule,
    model: torch.nn.Module | None = None,
    *,
    unsupported: UnsupportedPolicy = "warn",
) -> Iterator[ActiveRule]:
    """Replace the backward of every rectifier (ReLU, ReLU6) and smooth activation with ``rule`` in a ``with`` block.

    Covered, however the model spells them: ``nn.ReLU``/``nn.ReLU6``/``nn.Hardtanh(0, m)`` modules
    (also reused ones), ``F.relu``, ``torch.relu``, ``Tensor.relu()``, their in-place variants,
    ``F.relu6``, ``F.hardtanh(x, 0, m)`` and ``threshold(x, 0, 0)``; and, for rules that define
    :meth:`~attribkit.rules.Rule.activation_signal` (DeconvNet, guided backprop), GELU, SiLU, ELU,
    LeakyReLU, Hardswish, Mish and Softplus as modules, ``F.*`` functions, ``torch._C._nn`` kernels and
    in-place variants. Forward values are the original function's, in place where the model asked for it.

    Parameters
    ----------
    rule
        The backward rule, e.g. :class:`attribkit.rules.DeconvNet`.
    model
        When given, only calls made while ``model``'s forward runs (in this thread) are affected, and the
        model's modules are scanned for uncovered activations up front. When ``None``, every call in the
        block (in this thread) is.
    unsupported
        What to do on meeting an activation the rule does not cover (SELU, CELU, PReLU, RReLU, GLU,
        Python-written activations such as timm's ``Swish``, TorchScript code; and GELU, SiLU, ... for a
        rule without :meth:`~attribkit.rules.Rule.activation_signal`), which would otherwise silently pass
        its plain gradient: ``"warn"`` (:class:`UnsupportedActivationWarning`), ``"raise"``
        (:class:`UnsupportedActivationError`) or ``"ignore"``.

    Yields
    ------
    ActiveRule
        The active rule, counting replaced calls (``.replaced``) and uncovered activations met.

    Example
    -------
    >>> from attribkit.rules import DeconvNet, applied
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    >>> x = torch.ones(1, 2, requires_grad=True)
    >>> with applied(DeconvNet(), net) as active:
    ...     grad, = torch.autograd.grad(net(x).sum(), x)
    >>> active.replaced
    1
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be an attribkit.rules.Rule; got {type(rule).__name__}")
    if model is not None and not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or None; got {type(model).__name__}")
    if unsupported not in _POLICIES:
        raise ValueError(f"unsupported must be one of {_POLICIES}; got {unsupported!r}")
    active = ActiveRule(rule, unsupported=unsupported, scoped=model is not None)
    with ExitStack() as stack:
        if model is not None:
            for name in not_covered_modules(model):
                active.meet(name)
            if isinstance(model, torch.jit.ScriptModule):
                active.depth = 0  # scripted code never reaches the mode: nothing to scope
            else:
                _count_forwards(stack, active, model)
        stack.enter_context(active)
        yield active


def _count_forwards(stack: ExitStack, active: ActiveRule, model: torch.nn.Module) -> None:
    """Two root hooks, for this thread only, keep ``active.depth`` = how deep it is inside ``model``'s forward."""

    def enter(module: torch.nn.Module, args: Any) -> None:
        active.depth += 1

    def leave(module: torch.nn.Module, args: Any, output: Any) -> None:
        active.depth = max(0, active.depth - 1)

    # prepend: ours runs before any pre-hook that might raise, so the always-called leave() is balanced.
    stack.enter_context(thread_hooks(model, pre=enter, post=leave, prepend=True, always_call=True))
