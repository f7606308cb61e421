"""The rule engine's promises: nothing left behind, scoped to a thread and a model, loud about what it misses."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from rules_nets import Layer, Spec, build, inputs
from torch.nn.modules import module as nn_module

from attribkit.rules import (
    DeconvNet,
    Gradient,
    GuidedBackprop,
    Rule,
    UnsupportedActivationError,
    UnsupportedActivationWarning,
    applied,
)

SPEC = Spec(
    channels=3,
    size=8,
    conv=(Layer("conv", 6, 3, act=True), Layer("maxpool"), Layer("bn", act=True), Layer("conv", 4, 3, act=True)),
    dense=(Layer("linear", 10, act=True),),
    classes=5,
)


def _hook_state(model: torch.nn.Module) -> list[int]:
    """How many hooks of every kind exist on the model's modules and globally."""
    per_module = [
        len(d)
        for m in model.modules()
        for d in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks,
                  m._forward_hooks_always_called)
    ]
    globals_ = [len(getattr(nn_module, n)) for n in dir(nn_module) if n.startswith("_global_") and
                isinstance(getattr(nn_module, n), dict)]
    return per_module + globals_


def _grad(net: torch.nn.Module, x: torch.Tensor, cls: int = 1) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x)[:, cls].sum(), x)
    return g


def _assert_clean(net: torch.nn.Module, hooks_before: list[int], x: torch.Tensor, plain: torch.Tensor) -> None:
    assert torch._C._len_torch_function_stack() == 0
    assert _hook_state(net) == hooks_before
    assert torch.equal(_grad(net, x), plain)


@pytest.fixture
def net() -> torch.nn.Module:
    return build(SPEC, "module_inplace", seed=3)


@pytest.fixture
def x() -> torch.Tensor:
    return inputs(SPEC, seed=4, scale=2.0)


def test_rule_changes_the_backward_and_leaves_nothing_behind(net, x):
    before, plain = _hook_state(net), _grad(net, x)
    with applied(DeconvNet(), net) as active:
        ruled = _grad(net, x)
    assert active.replaced == 4
    assert not torch.allclose(ruled, plain)
    _assert_clean(net, before, x, plain)


class _Boom(RuntimeError):
    pass


class _RaisingRule(Rule):
    name = "raising"

    def rectifier_backward(self, grad_out, output, upper):  # type: ignore[no-untyped-def]
        raise _Boom("backward")


def test_nothing_left_behind_when_the_forward_raises(net, x):
    before, plain = _hook_state(net), _grad(net, x)

    def explode(module, args, output):  # type: ignore[no-untyped-def]
        raise _Boom("forward")

    handle = net.layers[3].register_forward_hook(explode)
    with pytest.raises(_Boom), applied(DeconvNet(), net):
        _grad(net, x)
    handle.remove()
    _assert_clean(net, before, x, plain)


def test_nothing_left_behind_when_the_backward_raises(net, x):
    before, plain = _hook_state(net), _grad(net, x)
    with pytest.raises(_Boom), applied(_RaisingRule(), net):
        _grad(net, x)
    _assert_clean(net, before, x, plain)


def test_nothing_left_behind_when_the_attributor_raises(net, x):
    import attribkit

    before, plain = _hook_state(net), _grad(net, x)
    deconv = attribkit.create_attributor("deconvnet", net)
    with pytest.raises(attribkit.TargetError):
        deconv.attribute(x, target=99)
    _assert_clean(net, before, x, plain)


def test_a_second_model_in_the_same_thread_keeps_its_gradient(x):
    net, other = build(SPEC, "F.relu", seed=3), build(SPEC, "F.relu", seed=5)
    plain_other = _grad(other, x)
    with applied(DeconvNet(), net):
        inside_other = _grad(other, x)
        ruled = _grad(net, x)
    assert torch.equal(inside_other, plain_other)
    assert not torch.allclose(ruled, _grad(net, x))


def test_without_a_model_the_whole_block_is_ruled(x):
    net = build(SPEC, "F.relu", seed=3)
    with applied(DeconvNet()) as active:
        ruled = _grad(net, x)
        # Outside any model too: a bare functional call in the block.
        t = torch.tensor([-1.0, 2.0], requires_grad=True)
        (g,) = torch.autograd.grad(F.relu(t), t, torch.tensor([-3.0, -4.0]))
    with applied(DeconvNet(), net):
        assert torch.equal(_grad(net, x), ruled)
    assert active.replaced == 5
    assert g.tolist() == [0.0, 0.0]


def test_another_thread_is_untouched_while_a_rule_is_in_force(x):
    net, other = build(SPEC, "F.relu", seed=3), build(SPEC, "F.relu", seed=5)
    plain_other = _grad(other, x)
    entered, done = threading.Event(), threading.Event()
    seen: dict[str, torch.Tensor] = {}

    def ruled_thread() -> None:
        with applied(DeconvNet()):  # even unscoped, the mode is this thread's alone
            entered.set()
            done.wait(10)
            seen["ruled"] = _grad(net, x)

    t = threading.Thread(target=ruled_thread)
    t.start()
    assert entered.wait(10)
    seen["other"] = _grad(other, x)  # runs while the other thread holds the rule
    done.set()
    t.join(10)
    assert torch.equal(seen["other"], plain_other)
    with applied(DeconvNet()):
        assert torch.equal(seen["ruled"], _grad(net, x))


def test_two_threads_attributing_different_models_at_once_match_serial_runs(x):
    import attribkit

    nets = {"deconvnet": build(SPEC, "module", seed=3), "guided_backprop": build(SPEC, "Tensor.relu", seed=7)}
    serial = {name: attribkit.create_attributor(name, n).attribute(x, top_k=3) for name, n in nets.items()}
    barrier = threading.Barrier(2)
    results: dict[str, list[torch.Tensor]] = {name: [] for name in nets}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            attributor = attribkit.create_attributor(name, nets[name])
            barrier.wait(10)
            for _ in range(5):
                results[name].append(attributor.attribute(x, top_k=3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for name in nets:
        assert len(results[name]) == 5
        for r in results[name]:
            assert torch.equal(r, serial[name])


def test_in_place_activations_stay_in_place(x):
    conv = torch.nn.Conv2d(3, 4, 3).double()
    with applied(DeconvNet()):
        y = conv(x.clone().requires_grad_(True))
        z = F.relu(y, inplace=True)
        w = F.hardtanh(y, 0.0, 6.0, inplace=True)
    assert z is y and w is y
    assert float(y.detach().min()) >= 0 and float(y.detach().max()) <= 6


def test_no_grad_calls_are_left_alone(x):
    net = build(SPEC, "F.relu", seed=3)
    with torch.no_grad(), applied(DeconvNet(), net) as active:
        net(x)
    assert active.replaced == 0


def test_relu6_upper_clamp_blocks_deconvnet_as_a_switch():
    t = torch.tensor([-2.0, -2.0, 3.0, 3.0, 6.0, 9.0], requires_grad=True)
    g_out = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, 1.0])
    expected = {
        Gradient(): [0.0, 0.0, 1.0, -1.0, 0.0, 0.0],
        DeconvNet(): [1.0, 0.0, 1.0, 0.0, 0.0, 0.0],  # relu of the signal; nothing at or above 6
        GuidedBackprop(): [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    }
    for rule, want in expected.items():
        with applied(rule):
            (g,) = torch.autograd.grad(F.relu6(t), t, g_out)
        assert g.tolist() == want, rule


def test_batched_backward_matches_one_backward_per_cotangent(x):
    net = build(SPEC, "reused_inplace", seed=3)
    xr = x.clone().requires_grad_(True)
    cots = torch.eye(5, dtype=torch.float64)[:, None, :].expand(5, x.shape[0], 5).contiguous()
    with applied(GuidedBackprop(), net):
        (batched,) = torch.autograd.grad(net(xr), xr, cots, is_grads_batched=True)
        for k in range(5):
            (one,) = torch.autograd.grad(net(xr), xr, cots[k])
            torch.testing.assert_close(batched[k], one, rtol=1e-12, atol=1e-12)


def test_torch_func_transforms_work_through_the_rule():
    lin = torch.nn.Linear(4, 3).double()
    xs = torch.randn(5, 4, dtype=torch.float64)

    def score(v: torch.Tensor) -> torch.Tensor:
        return F.relu(lin(v)).sum()

    with applied(DeconvNet()):
        vmapped = torch.func.vmap(torch.func.grad(score))(xs)
        looped = torch.stack([torch.autograd.grad(score(v.requires_grad_()), v)[0] for v in xs.clone()])
    torch.testing.assert_close(vmapped, looped)


# GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish and Softplus are covered now (tests/test_rules_activations.py).
@pytest.mark.parametrize("make", [torch.nn.SELU, torch.nn.CELU, torch.nn.PReLU, torch.nn.RReLU,
                                  lambda: torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.GLU())])
def test_uncovered_activations_warn(make):
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), make(), torch.nn.Linear(3, 2))
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.warns(UnsupportedActivationWarning, match="plain gradient"), applied(DeconvNet(), net) as active:
        net(x).sum().backward()
    assert len(active.not_covered) == 1  # once, whether met as a module or as a function


def test_uncovered_functional_activation_is_caught_without_a_module():
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.warns(UnsupportedActivationWarning, match="selu"), applied(DeconvNet()) as active:
        F.selu(x).sum()
    assert active.not_covered == ["selu"]


def test_hardtanh_that_is_not_a_rectifier_is_reported():
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.warns(UnsupportedActivationWarning, match="hardtanh"), applied(DeconvNet()) as active:
        F.hardtanh(x, -1.0, 1.0)
    assert active.replaced == 0


def test_raise_policy_refuses_and_leaves_nothing_behind():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.SELU(), torch.nn.Linear(3, 2))
    before = _hook_state(net)
    with pytest.raises(UnsupportedActivationError, match="SELU"), applied(DeconvNet(), net, unsupported="raise"):
        pass
    assert _hook_state(net) == before and torch._C._len_torch_function_stack() == 0


def test_gates_and_ignore_policy_are_silent():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Sigmoid(), torch.nn.Tanh(), torch.nn.CELU())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with applied(DeconvNet(), net, unsupported="ignore") as active:
            net(torch.randn(1, 3, requires_grad=True))
    assert active.not_covered == ["CELU"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("deconvnet",), {}, TypeError),
        ((DeconvNet(), "model"), {}, TypeError),
        ((DeconvNet(),), {"unsupported": "shout"}, ValueError),
    ],
)
def test_bad_arguments_are_refused(args, kwargs, error):
    with pytest.raises(error), applied(*args, **kwargs):
        pass


def test_rules_public_surface_is_sorted_complete_and_documented():
    import inspect
    import types

    import attribkit.rules as rules

    assert list(rules.__all__) == sorted(set(rules.__all__))
    public = {n for n, v in vars(rules).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public == set(rules.__all__)
    undocumented = [n for n in rules.__all__
                    if (inspect.isclass(getattr(rules, n)) or inspect.isfunction(getattr(rules, n)))
                    and not getattr(rules, n).__doc__]
    assert undocumented == []


def test_the_custom_rule_example_registers_and_with_q0_is_guided_backprop(x):
    import importlib.util
    from pathlib import Path

    import attribkit

    path = Path(__file__).resolve().parents[1] / "examples" / "custom_rule.py"
    spec = importlib.util.spec_from_file_location("custom_rule_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = attribkit.build_registry([("rectgrad-example", module)])
    net = build(SPEC, "reused_inplace", seed=3)
    rect = registry.get("attributor", "rectgrad").factory(net, q=0.0).attribute(x, target=2)
    guided = registry.get("attributor", "guided_backprop").factory(net).attribute(x, target=2)
    torch.testing.assert_close(rect, guided)
    sparse = registry.get("attributor", "rectgrad").factory(net, q=0.9).attribute(x, target=2)
    assert (sparse != 0).sum() < (guided != 0).sum()
