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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

import torch
from torch.overrides import TorchFunctionMode

from attribkit._core.hooks import thread_hooks
from attribkit.rules._activations import NOT_COVERED, RECTIFIERS, not_covered_modules
from attribkit.rules._function import RuledRectifier
from attribkit.rules._ops import (
    LAYER_NORM, LINEAR, MHA, PRODUCTS, SDPA, SOFTMAX, SUMS, OpCall, explicit_mha, explicit_sdpa, mha_unsupported,
)
from attribkit.errors import ModelError, OptionError, UnsupportedActivationError, UnsupportedActivationWarning
from attribkit.rules._rule import Rule
from attribkit.rules._smooth import SMOOTH, ruled_activation

UnsupportedPolicy = Literal["warn", "raise", "ignore"]
_POLICIES = ("warn", "raise", "ignore")


class ActiveRule(TorchFunctionMode):
    """What :func:`applied` yields: the rules in force and what they have met so far.

    Attributes
    ----------
    rule
        The (first) rule being applied.
    rules
        All rules in force, in the order given: each operation goes to the first rule that covers it.
    replaced
        How many activation calls (rectifiers, GELU, ...) had their backward replaced (calls under
        ``no_grad`` or on tensors that need no gradient are left alone: they have no backward).
    counts
        Calls that went through a rule, by kind: ``"rectifier"``, ``"activation"``, ``"softmax"``,
        ``"bilinear"``, ``"add"``, ``"layer_norm"``, ``"linear"``, and ``"attention"`` for each fused attention call
        written out for the rules (``scaled_dot_product_attention``, ``multi_head_attention_forward``).
    not_covered
        Names of the activations met that the rules do not cover, in order of first meeting.
    """

    def __init__(self, rules: Sequence[Rule], *, unsupported: UnsupportedPolicy, scoped: bool) -> None:
        super().__init__()
        self.rules = tuple(rules)
        self.rule = self.rules[0]
        self.unsupported = unsupported
        self.replaced = 0
        self.counts: Counter[str] = Counter()
        self.not_covered: list[str] = []
        # Active while > 0; with a model it counts that model's (possibly nested) forward calls.
        self.depth = 0 if scoped else 1
        # Who handles what, decided once: the first rule covering each kind of operation.
        self._rectifier = _first(self.rules, ("rectifier_backward", "activation"))
        self._smooth_rule = _first(self.rules, ("activation", "activation_signal"))
        self._ops: dict[Any, Callable[..., Any]] = {}
        for kind, table in (("softmax", SOFTMAX), ("layer_norm", LAYER_NORM), ("linear", LINEAR),
                            ("bilinear", PRODUCTS), ("add", SUMS)):
            chosen = _first(self.rules, (kind,))
            if chosen is not None:
                handler = partial(getattr(self, f"_{kind}"), chosen[0])
                self._ops.update(dict.fromkeys(table, handler))
        if any(_covers(r, kind) for r in self.rules for kind in ("softmax", "bilinear")):
            self._ops.update(dict.fromkeys(SDPA, self._sdpa))
        if any(_covers(r, kind) for r in self.rules for kind in ("softmax", "bilinear", "linear")):
            self._ops.update(dict.fromkeys(MHA, self._mha))

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
                return self._rectify(func, parse, args, kwargs)
            if func in SMOOTH:
                return self._smooth(func, args, kwargs)
            if func in NOT_COVERED:
                self.meet(NOT_COVERED[func])
            else:
                handler = self._ops.get(func)
                if handler is not None:
                    return handler(func, args, kwargs)
        return func(*args, **kwargs)

    def _rectify(self, func: Callable[..., Any], parse: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            call = parse(*args, **kwargs)
        except TypeError:  # an unusual spelling (out=...): let torch answer it as it would
            return func(*args, **kwargs)
        if call is None:
            self.meet(f"{getattr(func, '__name__', func)} with bounds other than (0, m)")
        elif self._rectifier is None:
            self.meet(getattr(func, "__name__", str(func)))
        elif torch.is_grad_enabled() and call.input.requires_grad:
            self.replaced += 1
            rule, how = self._rectifier
            if how == "activation":
                self.counts["activation"] += 1
                return self._activation(rule, call.input, _rebind(func, args, kwargs), call.inplace)
            self.counts["rectifier"] += 1
            return RuledRectifier.apply(call.input, rule, call.upper, _rebind(func, args, kwargs), call.inplace)
        return func(*args, **kwargs)

    def _smooth(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A smooth or leaky activation (GELU, SiLU, ...): the rule's generalisation, if it has one."""
        try:
            call = SMOOTH[func](*args, **kwargs)
        except (TypeError, KeyError, IndexError):  # an unusual spelling: let torch answer it as it would
            return func(*args, **kwargs)
        if self._smooth_rule is None:
            self.meet(call.name)
        elif torch.is_grad_enabled() and isinstance(call.input, torch.Tensor) and call.input.requires_grad:
            self.replaced += 1
            self.counts["activation"] += 1
            rule, how = self._smooth_rule
            if how == "activation":
                return self._activation(rule, call.input, _rebind(func, args, kwargs), call.inplace)
            return ruled_activation(call.input, rule, _rebind(func, args, kwargs), call.inplace)
        return func(*args, **kwargs)

    @staticmethod
    def _activation(rule: Rule, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor], inplace: bool) -> Any:
        """``rule.activation`` on an out-of-place call; an in-place model call gets the result written back."""
        if not inplace:
            return rule.activation(x, call)
        if torch._C._are_functorch_transforms_active():
            raise UnsupportedActivationError("an in-place activation under a torch.func transform cannot take a rule")
        # The in-place call runs on a copy; copy_ writes the ruled result into x (autograd records it).
        return x.copy_(rule.activation(x, lambda t: call(t.clone())))

    def _read(self, table: dict[Any, Any], func: Callable[..., Any], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
        try:
            op = table[func](func, args, kwargs)
        except TypeError:  # an unusual spelling: let torch answer it as it would
            return None
        if op is None or not torch.is_grad_enabled():
            return None
        if isinstance(op, OpCall) and not op.input.requires_grad:
            return None
        return op

    def _softmax(self, rule: Rule, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        op = self._read(SOFTMAX, func, args, kwargs)
        if op is None:
            return func(*args, **kwargs)
        self.counts["softmax"] += 1
        return rule.softmax(op.input, op.call)

    def _bilinear(self, rule: Rule, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        op = self._read(PRODUCTS, func, args, kwargs)
        if op is None:
            return func(*args, **kwargs)
        self.counts["bilinear"] += 1
        return rule.bilinear(op.operands, op.call)

    def _add(self, rule: Rule, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        op = self._read(SUMS, func, args, kwargs)
        if op is None:
            return func(*args, **kwargs)
        self.counts["add"] += 1
        return rule.add(op.operands, op.call)

    def _layer_norm(self, rule: Rule, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        op = self._read(LAYER_NORM, func, args, kwargs)
        if op is None:
            return func(*args, **kwargs)
        self.counts["layer_norm"] += 1
        a = op.args
        return rule.layer_norm(op.input, a["normalized_shape"], a["weight"], a["bias"], a["eps"], op.call)

    def _linear(self, rule: Rule, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        op = self._read(LINEAR, func, args, kwargs)
        if op is None:
            return func(*args, **kwargs)
        self.counts["linear"] += 1
        return rule.linear(op.input, op.args["weight"], op.args["bias"], op.call)

    def _sdpa(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Fused attention never materialises its softmax: write it out, for this call only, so the rules
        see its products and softmax (the mode is re-entered for the written-out calls)."""
        if not torch.is_grad_enabled() or not any(
            isinstance(t, torch.Tensor) and t.requires_grad for t in (*args[:3], *kwargs.values())
        ):
            return func(*args, **kwargs)
        self.counts["attention"] += 1
        with self:
            return explicit_sdpa(*args, **kwargs)

    def _mha(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``F.multi_head_attention_forward`` hides its projections and softmax from a mode: written out."""
        if not torch.is_grad_enabled():
            return func(*args, **kwargs)
        try:
            missing = mha_unsupported(*args, **kwargs)
        except TypeError:
            return func(*args, **kwargs)
        if missing is not None:
            self.meet(f"multi_head_attention_forward with {missing}")
            return func(*args, **kwargs)
        self.counts["attention"] += 1
        with self:
            return explicit_mha(*args, **kwargs)

    def meet(self, name: str) -> None:
        """Record an activation the rule does not cover, and warn or raise as the policy says."""
        # One report per activation, whether met as a module class (SiLU) or a function (silu).
        if _key(name) in {_key(met) for met in self.not_covered}:
            return
        self.not_covered.append(name)
        if self.unsupported == "ignore":
            return
        covered = "ReLU, ReLU6, hardtanh(x, 0, m)" + (_SMOOTH_NAMES if self._smooth_rule is not None else "")
        names = " + ".join(r.name for r in self.rules)
        message = (
            f"the {names} rule covers {covered} only; the model uses {name}, which keeps its "
            "plain gradient (see docs/rules.md). Pass unsupported='ignore' to accept this or "
            "unsupported='raise' to refuse."
        )
        if self.unsupported == "raise":
            raise UnsupportedActivationError(message)
        warnings.warn(message, UnsupportedActivationWarning, stacklevel=3)


def _covers(rule: Rule, hook: str) -> bool:
    """Whether ``rule`` overrides the :class:`Rule` method ``hook`` (a rule covers what it defines)."""
    return getattr(type(rule), hook) is not getattr(Rule, hook)


def _first(rules: Sequence[Rule], hooks: Sequence[str]) -> tuple[Rule, str] | None:
    """The first rule that defines any of ``hooks`` (in the rule, earlier hooks win), and which one."""
    for rule in rules:
        for hook in hooks:
            if _covers(rule, hook):
                return rule, hook
    return None


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
    rule: Rule | Sequence[Rule],
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

    Relevance rules (:class:`AttnLRP`, :class:`CPLRP`, a plugin's rule overriding
    :meth:`~attribkit.rules.Rule.softmax`, :meth:`~attribkit.rules.Rule.bilinear`,
    :meth:`~attribkit.rules.Rule.layer_norm`, :meth:`~attribkit.rules.Rule.linear` or
    :meth:`~attribkit.rules.Rule.activation`) are caught the same way: ``softmax``, products of two
    activations (``matmul``/``@``/``bmm``/``mm``/``baddbmm``/``einsum``), ``layer_norm``, ``linear``;
    fused ``scaled_dot_product_attention`` and ``multi_head_attention_forward`` are written out as
    explicit calls for the duration of the block, so their softmax and products reach the rules (their
    values then equal the fused kernel's to float rounding).

    Parameters
    ----------
    rule
        The backward rule, e.g. :class:`attribkit.rules.DeconvNet`, or several rules in force together
        (``(DeconvNet(), AttnLRP())``): each operation goes to the first rule that covers it. Nested
        ``applied`` blocks compose too: the innermost covering rule wins.
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
    rules = tuple(rule) if isinstance(rule, (list, tuple)) else (rule,)
    bad = next((r for r in rules if not isinstance(r, Rule)), None) if rules else rule
    if bad is not None:
        raise OptionError(f"rule must be an attribkit.rules.Rule or a sequence of them; got {type(bad).__name__}")
    if model is not None and not isinstance(model, torch.nn.Module):
        raise ModelError(f"model must be a torch.nn.Module or None; got {type(model).__name__}")
    if unsupported not in _POLICIES:
        raise OptionError(f"unsupported must be one of {_POLICIES}; got {unsupported!r}")
    active = ActiveRule(rules, unsupported=unsupported, scoped=model is not None)
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
