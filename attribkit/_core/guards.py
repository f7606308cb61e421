"""Guards around a model: the model check every attributor makes (inputs are checked in
:mod:`attribkit._core.inputs`, re-exported here), and scoped changes to a model's train/eval mode and
``requires_grad`` flags, always undone, also when threads share the model."""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from attribkit._core.inputs import check_inputs
from attribkit.errors import ModelInUseError

__all__ = ["check_inputs", "check_model", "frozen", "model_device"]


class _Share:
    """One model's calls inside :func:`frozen`: who is in, in which mode, and what to restore."""

    def __init__(self, model: torch.nn.Module, eval_mode: bool) -> None:
        self.eval_mode = eval_mode
        self.owners: Counter[int] = Counter()
        self.modes = [(m, m.training) for m in model.modules()]
        self.flags = [(p, p.requires_grad) for p in model.parameters()]
        # Nested switches of the mode by the only thread inside: (previous eval_mode, modes to restore).
        self.nested: list[tuple[bool, list[tuple[torch.nn.Module, bool]]]] = []

    def restore(self) -> None:
        for p, flag in self.flags:
            p.requires_grad_(flag)
        for m, training in self.modes:
            m.training = training


# One lock for the bookkeeping of every model (held for microseconds, never while a model runs); the
# tables forget a model when it is garbage-collected.
_changed = threading.Condition()
_shares: weakref.WeakKeyDictionary[torch.nn.Module, _Share] = weakref.WeakKeyDictionary()
# Calls waiting to enter, per model and eval_mode: calls of the mode in force queue behind the other's.
_waiting: weakref.WeakKeyDictionary[torch.nn.Module, Counter[bool]] = weakref.WeakKeyDictionary()


@contextmanager
def frozen(model: torch.nn.Module, *, eval_mode: bool = True) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode with parameters that need no gradient; restore both on exit.

    Attribution differentiates with respect to the *input* only: weights that do not require grad spare
    autograd from saving what only a weight gradient needs. The previous mode of every submodule and the
    flag of every parameter are restored in ``finally``, so an exception in the forward or backward pass
    leaves the model as it was.

    Safe when threads share ``model`` (a web service, a notebook's background job): the first call in
    saves the modes and flags and the last one out restores them (a per-model count under a lock), so no
    call restores while another still runs. Calls of the same ``eval_mode`` run together; a call asking
    for the other one waits until the model is free, and new calls of the mode in force queue behind it.
    A call nested in the same thread joins the outer one; if it asks for the other mode, the mode is
    switched for the nested block when its thread is alone inside, and :class:`ModelInUseError` is raised
    otherwise (waiting there could never end).

    Parameters
    ----------
    model
        The model; its modules' ``training`` flags and its parameters' ``requires_grad`` are changed
        inside the block.
    eval_mode
        ``True``: every module in eval mode (batch-norm uses its running statistics, dropout is off);
        ``False``: the modes are left as they are.

    Raises
    ------
    ModelInUseError
        A nested call asks for the other mode while other threads are inside.

    Example
    -------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout())
    >>> with frozen(net):
    ...     net.training, net[0].weight.requires_grad
    (False, False)
    >>> net.training, net[0].weight.requires_grad
    (True, True)
    """
    me = threading.get_ident()
    with _changed:
        share, switched = _enter(model, eval_mode, me)
    try:
        yield model
    finally:
        with _changed:
            _leave(model, share, me, switched)
            _changed.notify_all()


def _enter(model: torch.nn.Module, eval_mode: bool, me: int) -> tuple[_Share, bool]:
    """Join or start ``model``'s share, under the lock; ``True`` when a nested call switched the mode."""
    share = _shares.get(model)
    if share is not None and me in share.owners:
        share.owners[me] += 1
        if share.eval_mode == eval_mode:
            return share, False
        if set(share.owners) != {me}:
            share.owners[me] -= 1
            raise ModelInUseError(
                f"frozen(model, eval_mode={eval_mode}) is nested in a call with eval_mode={share.eval_mode} "
                "while other threads use the model; switching the mode would change theirs"
            )
        share.nested.append((share.eval_mode, [(m, m.training) for m in model.modules()]))
        share.eval_mode = eval_mode
        _set_mode(model, share, eval_mode)
        return share, True
    waiting = _waiting.setdefault(model, Counter())
    waiting[eval_mode] += 1
    try:
        while (share := _shares.get(model)) is not None and (
            share.eval_mode != eval_mode or share.nested or waiting[not eval_mode]
        ):
            _changed.wait()
    finally:
        waiting[eval_mode] -= 1
    if share is None:
        share = _shares[model] = _Share(model, eval_mode)
        _set_mode(model, share, eval_mode)
        for p, _ in share.flags:
            p.requires_grad_(False)
    share.owners[me] += 1
    return share, False


def _set_mode(model: torch.nn.Module, share: _Share, eval_mode: bool) -> None:
    if eval_mode:
        model.eval()
    else:
        for m, training in share.modes:
            m.training = training


def _leave(model: torch.nn.Module, share: _Share, me: int, switched: bool) -> None:
    """Leave ``model``'s share, under the lock; the last one out restores what the first one saved."""
    if switched:
        share.eval_mode, modes = share.nested.pop()
        for m, training in modes:
            m.training = training
    share.owners[me] -= 1
    if share.owners[me] == 0:
        del share.owners[me]
    if not share.owners:
        share.restore()
        del _shares[model]


def check_model(model: Any) -> torch.nn.Module:
    """``model`` itself, or a ``TypeError`` if it is not an ``nn.Module``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return model


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters), where its inputs go."""
    return next(iter(model.parameters()), torch.empty(0)).device
