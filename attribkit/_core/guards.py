"""Guards around a model: the model check every attributor makes (inputs are checked in
:mod:`attribkit._core.inputs`, re-exported here), and scoped changes to a model's train/eval mode and
``requires_grad`` flags, always undone, also when threads share the model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from attribkit._core.inputs import check_inputs
from attribkit.errors import ModelInUseError, OptionError

__all__ = ["check_inputs", "check_model", "frozen", "model_device"]


class _Call:
    """One :func:`frozen` call: its thread, what it asks for, and the modules and parameters it covers."""

    def __init__(self, model: torch.nn.Module, eval_mode: bool, exclusive: bool) -> None:
        self.thread = threading.get_ident()
        self.root = model
        self.eval_mode, self.exclusive = eval_mode, exclusive
        self.modules = list(model.modules())
        self.module_set = set(self.modules)
        self.params = list(model.parameters())

    def overlaps(self, other: _Call) -> bool:
        return not self.module_set.isdisjoint(other.module_set)

    def conflicts(self, other: _Call) -> bool:
        """Another thread's call that cannot run beside this one: shared modules, and another mode or
        either call exclusive."""
        return (other.thread != self.thread
                and (other.eval_mode != self.eval_mode or other.exclusive or self.exclusive)
                and self.overlaps(other))

    def describe(self) -> str:
        return f"eval_mode={self.eval_mode}" + (", exclusive=True" if self.exclusive else "")


class _Share:
    """One module held by calls of :func:`frozen`: its own ``training`` flag to restore, and the calls
    holding it in order of entry (the last one's mode is in force)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.training = module.training
        self.calls: list[_Call] = []

    def apply(self, module: torch.nn.Module) -> None:
        _set_training(module, False if self.calls[-1].eval_mode else self.training)


def _set_training(module: torch.nn.Module, training: bool) -> None:
    # nn.Module.__setattr__ costs ~4 us: on a model already in the mode asked for (the usual case), skipping
    # it saved ~1.5 ms of a 71 ms EfficientNet-Lite0 gradient map (bench/saliency.py --api, 2-core CPU).
    if module.training != training:
        module.training = training


# The bookkeeping is per *module* and per *parameter*, not per model, so models sharing submodules (two
# heads on one backbone) save and restore each shared piece once, and their calls wait for each other
# only where they overlap. One lock guards it all (held for microseconds, never while a model runs);
# every entry is dropped when its last call leaves.
_changed = threading.Condition()
_shares: dict[torch.nn.Module, _Share] = {}
_flags: dict[torch.nn.Parameter, list[Any]] = {}  # parameter -> [its own requires_grad, calls holding it]
_active: list[_Call] = []
# Calls waiting to enter, in arrival order: a call waits for every earlier one it conflicts with (FIFO
# among conflicting calls), so a stream of calls of one mode cannot starve a call of the other.
_queue: list[_Call] = []


@contextmanager
def frozen(model: torch.nn.Module, *, eval_mode: bool = True, exclusive: bool = False) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode with parameters that need no gradient; restore both on exit.

    Attribution differentiates with respect to the *input* only: weights that do not require grad spare
    autograd from saving what only a weight gradient needs. The previous mode of every submodule and the
    flag of every parameter are restored in ``finally``, so an exception in the forward or backward pass
    leaves the model as it was.

    Safe when threads share ``model`` or some of its submodules (a web service; two heads on one
    backbone): each module's mode and each parameter's flag is saved by the first call that covers it and
    restored by the last one out. Calls of the same ``eval_mode`` run together; calls that share modules
    but ask for the other mode, or that are ``exclusive``, take turns in order of arrival (a call never
    overtakes an earlier one it conflicts with). A call nested in the same thread joins the outer one
    without waiting; if it asks for the other mode, or for ``exclusive``, while another thread is inside,
    :class:`ModelInUseError` is raised (waiting there could never end).

    Parameters
    ----------
    model
        The model; its modules' ``training`` flags and its parameters' ``requires_grad`` are changed
        inside the block.
    eval_mode
        ``True``: every module in eval mode (batch-norm uses its running statistics, dropout is off);
        ``False``: the modes are left as they are.
    exclusive
        No other thread's call may cover any of ``model``'s modules meanwhile: for a method that changes
        the model in ways another thread's forward pass would meet (a library's module hooks).

    Raises
    ------
    ModelInUseError
        A nested call asks for the other mode, or for ``exclusive``, while other threads are inside.

    Example
    -------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout())
    >>> with frozen(net):
    ...     net.training, net[0].weight.requires_grad
    (False, False)
    >>> net.training, net[0].weight.requires_grad
    (True, True)
    """
    call = _Call(model, eval_mode, exclusive)
    with _changed:
        _enter(call)
    try:
        yield model
    finally:
        with _changed:
            _leave(call)
            _changed.notify_all()


def _enter(call: _Call) -> None:
    """Admit ``call``, under the lock: at once when nested in this thread's own call, else in turn."""
    outer = [c for c in _active if c.thread == call.thread and c.overlaps(call)]
    if outer:
        if any(call.conflicts(c) for c in _active):
            raise ModelInUseError(
                f"frozen(model, {call.describe()}) is nested in a call with {outer[-1].describe()} while other "
                "threads use the model; switching the mode would change theirs"
            )
        _admit(call)
        return
    _queue.append(call)
    _changed.notify_all()  # lets an observer (a test) see the queue change
    try:
        while any(call.conflicts(c) for c in _active) or any(
            call.conflicts(w) for w in _queue[: _queue.index(call)]
        ):
            _changed.wait()
    finally:
        _queue.remove(call)
        _changed.notify_all()  # a later call that waited behind this one may go now
    _admit(call)


def _admit(call: _Call) -> None:
    _active.append(call)
    for module in call.modules:
        share = _shares.get(module)
        if share is None:
            share = _shares[module] = _Share(module)
        share.calls.append(call)
        share.apply(module)
    for p in call.params:
        entry = _flags.setdefault(p, [p.requires_grad, 0])
        entry[1] += 1
        if p.requires_grad:
            p.requires_grad_(False)


def _leave(call: _Call) -> None:
    """Leave, under the lock: each module gets the mode of the calls still holding it, or its own back."""
    _active.remove(call)
    for module in call.modules:
        share = _shares[module]
        share.calls.remove(call)
        if share.calls:
            share.apply(module)
        else:
            _set_training(module, share.training)
            del _shares[module]
    for p in call.params:
        entry = _flags[p]
        entry[1] -= 1
        if entry[1] == 0:
            if p.requires_grad != entry[0]:
                p.requires_grad_(entry[0])
            del _flags[p]


def check_model(model: Any) -> torch.nn.Module:
    """``model`` itself, or :class:`~attribkit.errors.OptionError` (a ``TypeError``) if it is not an ``nn.Module``."""
    if not isinstance(model, torch.nn.Module):
        raise OptionError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return model


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters), where its inputs go."""
    return next(iter(model.parameters()), torch.empty(0)).device
