"""One model, several threads: overlapping calls give the serial answers and leave the model exactly as
it was (every module's train/eval flag, every parameter's ``requires_grad``, batch-norm statistics), also
when one of the calls raises. The forward pass is slowed down so that the calls really overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

import attribkit
from attribkit._core import guards
from attribkit.errors import ModelInUseError, TargetError

THREADS = 6


class Slow(torch.nn.Module):
    """Sleeps in its forward (releasing the GIL), so another thread's call starts meanwhile."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.02)
        return x


class ModeProbe(torch.nn.Module):
    """Doubles its input in training mode, so a call run in the wrong mode gives another gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 if self.training else x


def shared_net(*, batch_norm: bool = True) -> torch.nn.Module:
    """A small classifier in *train* mode, with some parameters frozen by its owner beforehand."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4) if batch_norm else torch.nn.Identity(),
        torch.nn.ReLU(),
        Slow(),
        ModeProbe(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 5),
    )
    if batch_norm:
        with torch.no_grad():  # running statistics that differ from a fresh batch-norm's
            for _ in range(3):
                net(torch.randn(4, 3, 8, 8) * 3 + 1)
    net.train()
    net[0].bias.requires_grad_(False)  # the owner's fine-tuning setup, which must survive
    net[7].weight.requires_grad_(False)
    return net


def state(net: torch.nn.Module) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]], list[torch.Tensor]]:
    """Every module's training flag, every parameter's requires_grad, every buffer's value."""
    return (
        [(name, m.training) for name, m in net.named_modules()],
        [(name, p.requires_grad) for name, p in net.named_parameters()],
        [b.clone() for b in net.buffers()],
    )


def assert_same_state(net: torch.nn.Module, before: Any) -> None:
    modes, flags, buffers = state(net)
    assert modes == before[0]
    assert flags == before[1]
    assert len(buffers) == len(before[2])
    for now, then in zip(buffers, before[2]):
        assert torch.equal(now, then)
    assert net not in guards._shares  # nothing left behind in the bookkeeping


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at once (a barrier), one thread each; results or the exceptions raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a call never finished (deadlock?)"
    return results


@pytest.fixture
def inputs() -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randn(2, 3, 8, 8) for _ in range(THREADS)]


@pytest.mark.parametrize(
    ("method", "options", "call"),
    [
        ("saliency", {}, {"target": [1, 3]}),
        ("deconvnet", {}, {"target": [1, 3]}),
        # SmoothGrad draws its noise from a generator of its own, seeded per call: serial runs compare.
        ("saliency", {"smoothgrad": 2, "ten_crop": True}, {"top_k": 2}),
    ],
    ids=["saliency", "deconvnet", "smoothgrad-ten-crop-top-k"],
)
def test_overlapping_calls_equal_serial_calls_and_restore_the_model(method, options, call, inputs):
    net = shared_net()
    before = state(net)
    attributor = attribkit.create_attributor(method, net, **options)
    serial = [attributor.attribute(x, **call) for x in inputs]
    assert_same_state(net, before)

    together = run_together([lambda x=x: attributor.attribute(x, **call) for x in inputs])

    for got, want in zip(together, serial):
        assert isinstance(got, torch.Tensor), got
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert_same_state(net, before)


def test_an_exception_in_one_thread_leaves_the_others_and_the_model_intact(inputs):
    net = shared_net()
    before = state(net)
    attributor = attribkit.create_attributor("saliency", net)
    serial = [attributor.attribute(x, target=2) for x in inputs]
    # The third call names a class the model does not have: it raises after its forward pass, while the
    # others are still inside.
    targets = [2, 2, 99, 2, 2, 2]
    together = run_together([lambda x=x, t=t: attributor.attribute(x, target=t) for x, t in zip(inputs, targets)])
    assert isinstance(together[2], TargetError)
    assert "out of range" in str(together[2])
    for i, (got, want) in enumerate(zip(together, serial)):
        if i != 2:
            torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert_same_state(net, before)


def test_calls_asking_for_different_modes_are_serialised(inputs):
    # No batch-norm: a train-mode call changes no buffer, so each call's answer depends on its mode only.
    net = shared_net(batch_norm=False)
    before = state(net)
    in_eval = attribkit.create_attributor("saliency", net)
    as_is = attribkit.create_attributor("saliency", net, eval_mode=False)
    want_eval = [in_eval.attribute(x, target=1) for x in inputs]
    want_train = [as_is.attribute(x, target=1) for x in inputs]
    assert not torch.allclose(want_eval[0], want_train[0])  # the two modes differ here

    calls = [lambda x=x, a=(in_eval if i % 2 else as_is): a.attribute(x, target=1) for i, x in enumerate(inputs)]
    together = run_together(calls)
    for i, got in enumerate(together):
        torch.testing.assert_close(got, (want_eval if i % 2 else want_train)[i], rtol=0, atol=0)
    assert_same_state(net, before)


@contextmanager
def held_elsewhere(model: torch.nn.Module, *, eval_mode: bool = True) -> Iterator[None]:
    """Another thread sits inside ``frozen(model)`` for the duration of the block."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with attribkit.frozen(model, eval_mode=eval_mode):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert inside.wait(10)
        yield
    finally:
        release.set()
        t.join(10)


def test_two_models_do_not_wait_for_each_other():
    a, b = shared_net(batch_norm=False), shared_net(batch_norm=False)
    with held_elsewhere(a, eval_mode=False):
        with attribkit.frozen(b):  # another model, the other mode: enters at once
            assert not b.training and a.training


def test_nested_calls_in_one_thread_switch_and_restore_the_mode():
    net = shared_net(batch_norm=False)
    before = state(net)
    with attribkit.frozen(net):
        assert not net[4].training
        with attribkit.frozen(net, eval_mode=False):
            assert net[4].training  # the owner's mode, as a nested call always gave
            assert not net[0].weight.requires_grad
        assert not net[4].training
    assert_same_state(net, before)


def test_a_nested_mode_switch_while_another_thread_is_inside_is_refused():
    net = shared_net(batch_norm=False)
    before = state(net)
    with held_elsewhere(net):
        with attribkit.frozen(net):
            with pytest.raises(ModelInUseError, match="nested in a call with eval_mode=True"):
                with attribkit.frozen(net, eval_mode=False):
                    pass
            assert not net.training
    assert_same_state(net, before)


def wait_until(condition: Callable[[], bool]) -> None:
    """Block until ``condition()`` holds; frozen() signals every change of its queue, so no polling."""
    with guards._changed:
        assert guards._changed.wait_for(condition, timeout=10), "timed out"


def test_a_waiting_mode_is_not_starved_by_a_stream_of_the_other():
    net = shared_net(batch_norm=False)
    before = state(net)
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def eval_call(name: str, hold: bool) -> None:
        with attribkit.frozen(net):
            first_in.set()
            if hold:
                release.wait(10)
            order.append(name)

    def train_call() -> None:
        with attribkit.frozen(net, eval_mode=False):
            assert net[4].training
            order.append("train")

    def waiting(eval_mode: bool) -> int:
        return sum(1 for call in guards._queue if call.root is net and call.eval_mode == eval_mode)

    first = threading.Thread(target=eval_call, args=("eval0", True))
    first.start()
    assert first_in.wait(10)
    train = threading.Thread(target=train_call)
    train.start()
    wait_until(lambda: waiting(False) == 1)  # the train call waits for the eval call to leave
    later = threading.Thread(target=eval_call, args=("eval1", False))
    later.start()
    wait_until(lambda: waiting(True) == 1)  # a new eval call queues behind it instead of joining
    assert order == []
    release.set()
    for t in (first, train, later):
        t.join(10)
    assert order == ["eval0", "train", "eval1"]
    assert_same_state(net, before)


def two_heads() -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """Two classifiers on one backbone (in train mode, one parameter frozen by its owner)."""
    backbone = shared_net(batch_norm=False)[:5]
    torch.manual_seed(2)
    head_a = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 5))
    head_b = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    return backbone, torch.nn.Sequential(backbone, head_a).train(), torch.nn.Sequential(backbone, head_b).train()


@pytest.mark.parametrize("b_eval_mode", [True, False], ids=["same-mode", "other-mode"])
def test_two_models_sharing_a_backbone_one_thread_each_leave_it_as_it_was(b_eval_mode, inputs):
    backbone, a, b = two_heads()
    before = state(backbone)
    on_a = attribkit.create_attributor("saliency", a)
    on_b = attribkit.create_attributor("saliency", b, eval_mode=b_eval_mode)
    want_a = [on_a.attribute(x, target=1) for x in inputs]
    want_b = [on_b.attribute(x, target=2) for x in inputs]

    def each(attributor: Any, target: int) -> list[torch.Tensor]:
        return [attributor.attribute(x, target=target) for x in inputs]

    got_a, got_b = run_together([lambda: each(on_a, 1), lambda: each(on_b, 2)])
    for got, want in zip(got_a + got_b, want_a + want_b):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert_same_state(backbone, before)
    assert not guards._shares and not guards._flags


def test_an_exclusive_call_has_the_shared_modules_to_itself():
    backbone, a, b = two_heads()
    order: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:  # another thread inside b, so inside the backbone
        with attribkit.frozen(b):
            inside.set()
            release.wait(10)
            order.append("b")

    def exclusive() -> None:
        with attribkit.frozen(a, exclusive=True):
            order.append("exclusive")

    def plain() -> None:
        with attribkit.frozen(a):
            order.append("plain")

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    threads = [threading.Thread(target=exclusive), threading.Thread(target=plain)]
    threads[0].start()
    wait_until(lambda: any(call.root is a and call.exclusive for call in guards._queue))
    threads[1].start()  # a later plain call queues behind the exclusive one, although b's holder lets it in
    wait_until(lambda: sum(call.root is a for call in guards._queue) == 2)
    assert order == []
    release.set()
    for t in (holder, *threads):
        t.join(10)
    assert order == ["b", "exclusive", "plain"]
    with held_elsewhere(a):
        with attribkit.frozen(head := torch.nn.Linear(2, 2), exclusive=True):  # nothing shared: at once
            assert not head.training
