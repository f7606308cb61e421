"""The Zennit bridge plugin: each ``zennit:*`` attributor equals Zennit's ``Gradient`` attributor with the
composite and canonizers called directly, and leaves the model exactly as it was."""

from __future__ import annotations

import pytest
import torch

import attribkit

zennit = pytest.importorskip("zennit")
attribkit_zennit = pytest.importorskip(
    "attribkit_zennit", reason="install the bridge: pip install -e plugins/attribkit-zennit"
)

from zennit.attribution import Gradient  # noqa: E402
from zennit.canonizers import SequentialMergeBatchNorm  # noqa: E402
from zennit.composites import EpsilonAlpha2Beta1, EpsilonPlus, EpsilonPlusFlat  # noqa: E402
from zennit.torchvision import ResNetCanonizer  # noqa: E402

from conftest import tiny_cnn  # noqa: E402

COMPOSITES = {
    "zennit:epsilon_alpha2_beta1": EpsilonAlpha2Beta1,
    "zennit:epsilon_plus": EpsilonPlus,
    "zennit:epsilon_plus_flat": EpsilonPlusFlat,
}
NAMES = sorted(COMPOSITES)
CLASSES = 5


def resnet18() -> torch.nn.Module:
    """A small torchvision ResNet-18 with random weights and batch-norm statistics that are not 0/1."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=CLASSES)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return resnet18()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def _direct(name: str, model: torch.nn.Module, x: torch.Tensor, target: list[int], canonizer=ResNetCanonizer):
    """The reference: Zennit's README usage, output relevance one-hot at the class."""
    composite = COMPOSITES[name](canonizers=[canonizer()])
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, torch.eye(CLASSES)[target])
    return relevance


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _untouched(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    after = model.state_dict()
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                + len(m._backward_pre_hooks) for m in model.modules())
    patched = [m for m in model.modules() if "forward" in vars(m) or hasattr(m, "canonizer_sum")]
    return (after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
            and hooks == 0 and not patched)


def test_every_composite_is_registered_by_the_zennit_plugin(capsys, fresh_registry):
    from attribkit.cli import main

    registry = attribkit.build_registry()
    assert registry.names("attributor", "zennit:*") == NAMES
    assert {registry.get("attributor", n).plugin for n in NAMES} == {"zennit"}
    assert registry.distributions["zennit"] == "attribkit-zennit"
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "attribkit-zennit" in out and all(name in out for name in NAMES)


def test_declared_options_are_the_classes_own():
    from attribkit._core.registry import signature_options
    from attribkit_zennit import _methods
    from attribkit_zennit.plugin import METHODS

    for name, (class_name, _, declared) in METHODS.items():
        assert getattr(_methods, class_name).composite_class is COMPOSITES[name]
        assert declared == signature_options(getattr(_methods, class_name), skip=1), name
    with pytest.raises(attribkit.OptionError, match="canonizer must be one of"):
        attribkit.create_attributor("zennit:epsilon_plus", tiny_cnn(), canonizer="merge")


@pytest.mark.parametrize("name", NAMES)
def test_bridge_equals_zennit_called_directly(name, model, x):
    before = _state(model)
    got = attribkit.create_attributor(name, model).attribute(x, target=[3, 1])
    want = _direct(name, model, x, [3, 1])
    assert got.shape == x.shape
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert got.abs().sum() > 0
    assert _untouched(model, before)


def test_canonizers_matter_and_auto_picks_resnet(model, x):
    lrp = attribkit.create_attributor("zennit:epsilon_plus", model, canonizer="sequential")
    sequential = lrp.attribute(x, target=0)
    torch.testing.assert_close(sequential, _direct("zennit:epsilon_plus", model, x, [0, 0], SequentialMergeBatchNorm),
                               rtol=0, atol=0)
    auto = attribkit.create_attributor("zennit:epsilon_plus", model).attribute(x, target=0)
    assert not torch.allclose(auto, sequential)
    # A model without ResNet blocks gets SequentialMergeBatchNorm.
    assert [type(c).__name__ for c in attribkit_zennit.canonizers_for(tiny_cnn(), "auto")] == [
        "SequentialMergeBatchNorm"]


@pytest.mark.parametrize("name", NAMES)
def test_k_targets_are_k_zennit_calls(name, model, x):
    lrp = attribkit.create_attributor(name, model)
    many = lrp.attribute(x, target=[[0, 1, 2], [4, 3, 2]])
    assert many.shape == (2, 3, 3, 64, 64)
    for k, column in enumerate(([0, 4], [1, 3], [2, 2])):
        torch.testing.assert_close(many[:, k], _direct(name, model, x, list(column)), rtol=0, atol=0)
    best = model(x).topk(2, dim=1).indices
    torch.testing.assert_close(lrp.attribute(x, top_k=2), lrp.attribute(x, target=best))


def test_relevance_is_conserved_through_a_bias_free_network():
    """With no biases the z+ and epsilon rules conserve relevance: each map sums to its one-hot's 1."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, bias=False), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(6 * 14 * 14, 4, bias=False)).double()
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    relevance = attribkit.create_attributor("zennit:epsilon_plus", net).attribute(x, target=[0, 1, 2])
    torch.testing.assert_close(relevance.sum((1, 2, 3)), torch.ones(3, dtype=torch.float64), rtol=1e-4, atol=1e-4)


class _Flaky(torch.nn.Module):
    """A ResNet whose forward raises from its ``fail_at``-th call on (inside Zennit's call)."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.fail_at, self.calls = resnet18().train(), 10**9, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError("boom")
        return self.net(x)


def test_model_mode_flags_grads_and_parameters_restored_after_an_exception(x):
    model = _Flaky()
    model.net.fc.weight.grad = torch.ones_like(model.net.fc.weight)
    model.net.conv1.weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    before = _state(model)
    lrp = attribkit.create_attributor("zennit:epsilon_plus_flat", model, canonizer="resnet")
    lrp.attribute(x, target=1)
    model.calls, model.fail_at = 0, 2  # the scores pass works, the pass under the composite raises
    with pytest.raises(RuntimeError, match="boom"):
        lrp.attribute(x, target=1)
    assert _untouched(model, before)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert [n for n, _ in model.named_parameters()] == list(dict(model.named_parameters()))
    assert model.net.conv1.bias is None  # the canonizer's merged bias is gone again
    torch.testing.assert_close(model.net.fc.weight.grad, torch.ones_like(model.net.fc.weight))


def test_models_returning_a_dict_and_extra_arguments(x):
    net = resnet18()

    class Dict(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, inputs, scale):  # type: ignore[no-untyped-def]
            return {"logits": self.net(inputs) * scale}

    got = attribkit.create_attributor("zennit:epsilon_plus", Dict()).attribute(
        x, target=[1, 2], additional_forward_args=(1.0,))
    torch.testing.assert_close(got, _direct("zennit:epsilon_plus", net, x, [1, 2]), rtol=1e-6, atol=1e-9)


def test_calls_on_one_model_take_turns(model, x):
    """Two threads on one model: canonizers rewrite its parameters, so without the lock the second would
    merge already-merged batch norms and leave the model changed."""
    import threading

    before = _state(model)
    lrp = attribkit.create_attributor("zennit:epsilon_plus", model)
    want = lrp.attribute(x[:1], target=0)
    results: list[torch.Tensor] = []
    threads = [threading.Thread(target=lambda: results.append(lrp.attribute(x[:1], target=0))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for got in results:
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert _untouched(model, before)


def test_registering_does_not_import_zennit():
    import subprocess
    import sys

    code = ("import sys, attribkit; attribkit.build_registry(); "
            "print('zennit' in sys.modules, 'attribkit_zennit._methods' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_attribkits_averaging_wraps_the_bridge(model, x):
    plain = attribkit.create_attributor("zennit:epsilon_plus", model).attribute(x, target=1)
    noiseless = attribkit.create_attributor("zennit:epsilon_plus", model, smoothgrad=2, noise=0.0)
    torch.testing.assert_close(noiseless.attribute(x, target=1), plain)
