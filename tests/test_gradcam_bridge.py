"""The pytorch-grad-cam bridge plugin: each ``pgc:*`` attributor equals calling pytorch-grad-cam directly."""

from __future__ import annotations

import pytest
import torch

import attribkit

pgc = pytest.importorskip("pytorch_grad_cam")
attribkit_gradcam = pytest.importorskip(
    "attribkit_gradcam", reason="install the bridge: pip install -e plugins/attribkit-gradcam"
)

from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

#: attribkit name -> the library's class.
CLASSES = {
    "pgc:eigencam": "EigenCAM",
    "pgc:gradcam": "GradCAM",
    "pgc:gradcampp": "GradCAMPlusPlus",
    "pgc:hirescam": "HiResCAM",
    "pgc:layercam": "LayerCAM",
    "pgc:scorecam": "ScoreCAM",
    "pgc:xgradcam": "XGradCAM",
}
NAMES = sorted(CLASSES)


def resnet18() -> torch.nn.Module:
    """A small torchvision ResNet-18 with random weights and batch-norm statistics that are not 0/1."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=5)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return resnet18()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def _direct(name: str, model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, target: list[int]):
    """The reference: the library called the way its README shows."""
    cam = getattr(pgc, CLASSES[name])(model=model, target_layers=[layer])
    try:
        return torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in target]))
    finally:
        cam.activations_and_grads.release()


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_every_bridged_method_is_registered_by_the_pgc_plugin():
    registry = attribkit.build_registry()
    assert registry.names("attributor", "pgc:*") == NAMES
    assert {registry.get("attributor", n).plugin for n in NAMES} == {"pgc"}
    assert registry.distributions["pgc"] == "attribkit-gradcam"
    # Namespaces keep the bridges apart from the built-in and Captum's Grad-CAM.
    assert {"gradcam", "pgc:gradcam"} <= set(registry.names("attributor"))


def test_listed_by_attribkit_plugins(capsys, fresh_registry):
    from attribkit.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "attribkit-gradcam" in out
    for name in NAMES:
        assert name in out


def test_declared_options_are_the_classes_own():
    from attribkit._core.registry import signature_options
    from attribkit_gradcam import _methods
    from attribkit_gradcam.plugin import METHODS

    for name, (class_name, _, declared) in METHODS.items():
        assert getattr(_methods, class_name).cam_class.__name__ == CLASSES[name]
        assert declared == signature_options(getattr(_methods, class_name), skip=1), name
    with pytest.raises(attribkit.OptionError, match="unknown option 'batchsize' for pgc:scorecam"):
        attribkit.create_attributor("pgc:scorecam", resnet18(), batchsize=4)


@pytest.mark.parametrize("name", NAMES)
def test_bridge_equals_the_library_called_directly(name, model, x):
    # layer2 (8 x 8 at 64 px, 128 channels): a grid worth comparing, and Score-CAM stays quick.
    target = [3, 1]
    got = attribkit.create_attributor(name, model, layer="layer2").attribute(x, target=target)
    want = _direct(name, model, model.layer2, x, target)
    assert got.shape == (2, 1, 64, 64) and got.dtype == x.dtype
    torch.testing.assert_close(got[:, 0], want, rtol=0, atol=0)
    assert got.amax() > 0.99 and got.amin() >= 0  # the library scales each map to [0, 1]


def test_default_layer_is_attribkits_and_matches_the_library(model, x):
    attributor = attribkit.create_attributor("pgc:gradcam", model)
    assert attributor.layer is model.layer4
    assert attributor.layer_name == attribkit.attribution.default_layer_name(model)
    got = attributor.attribute(x, target=[0, 4])
    torch.testing.assert_close(got[:, 0], _direct("pgc:gradcam", model, model.layer4, x, [0, 4]), rtol=0, atol=0)


def test_gradcam_is_attribkits_gradcam_scaled_to_unit_range(model, x):
    """The same equations as the built-in: up to the library's min-max scaling and OpenCV's resize."""
    got = attribkit.create_attributor("pgc:gradcam", model, layer="layer3").attribute(x, target=2)
    ours = attribkit.create_attributor("gradcam", model, layer="layer3").attribute(x, target=2)
    low = torch.nn.functional.adaptive_avg_pool2d
    a, b = low(got, 4), low(ours, 4)
    b = (b - b.amin((2, 3), keepdim=True)) / (b.amax((2, 3), keepdim=True) - b.amin((2, 3), keepdim=True))
    assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.95


@pytest.mark.parametrize("name", ["pgc:gradcam", "pgc:layercam", "pgc:eigencam"])
def test_k_targets_are_k_library_calls(name, model, x):
    attributor = attribkit.create_attributor(name, model, layer="layer3")
    many = attributor.attribute(x, target=[[0, 1, 2], [4, 3, 2]])
    assert many.shape == (2, 3, 1, 64, 64)
    for k, column in enumerate(([0, 4], [1, 3], [2, 2])):
        torch.testing.assert_close(many[:, k, 0], _direct(name, model, model.layer3, x, list(column)), rtol=0, atol=0)
    top = attributor.attribute(x, top_k=2)
    best = model(x).topk(2, dim=1).indices
    torch.testing.assert_close(top, attributor.attribute(x, target=best))
    if name == "pgc:eigencam":  # no class enters EigenCAM
        torch.testing.assert_close(many[:, 0], many[:, 2])


class _Flaky(torch.nn.Module):
    """A ResNet whose forward raises from its ``calls``-th call on (inside the library's call)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.net, self.fail_at, self.calls = resnet18().train(), fail_at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError("boom")
        return self.net(x)


@pytest.mark.parametrize("name", ["pgc:gradcam", "pgc:scorecam"])
def test_no_hook_mode_flag_or_grad_left_behind(name, x):
    model = _Flaky(fail_at=10**9)
    model.net.fc.weight.grad = torch.ones_like(model.net.fc.weight)
    model.net.conv1.weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    attributor = attribkit.create_attributor(name, model, layer="net.layer4")
    attributor.attribute(x[:1], target=1)
    assert _hooks(model) == 0
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    torch.testing.assert_close(model.net.fc.weight.grad, torch.ones_like(model.net.fc.weight))

    model.calls, model.fail_at = 0, 2  # the scores pass works, the library's forward raises
    with pytest.raises(RuntimeError, match="boom"):
        attributor.attribute(x[:1], target=1)
    assert _hooks(model) == 0
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert model.net.fc.weight.grad is not None


def test_score_cam_is_quiet_unless_asked_and_batches_as_told(model, x, capfd):
    from pytorch_grad_cam import score_cam

    bars = score_cam.tqdm
    quiet = attribkit.create_attributor("pgc:scorecam", model, layer="layer4", batch_size=128)
    got = quiet.attribute(x[:1], target=2)
    assert "it/s" not in capfd.readouterr().err and score_cam.tqdm is bars
    loud = attribkit.create_attributor("pgc:scorecam", model, layer="layer4", batch_size=128, progress=True)
    torch.testing.assert_close(loud.attribute(x[:1], target=2), got)
    assert "it/s" in capfd.readouterr().err
    with pytest.raises(attribkit.OptionError, match="batch_size"):
        attribkit.create_attributor("pgc:scorecam", model, batch_size=0)
    with pytest.raises(attribkit.OptionError, match="additional_forward_args"):
        quiet.attribute(x, additional_forward_args=(1,))


def test_models_returning_a_dict_and_extra_arguments(x):
    net = resnet18()

    class Dict(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, inputs, scale):  # type: ignore[no-untyped-def]
            return {"logits": self.net(inputs) * scale}

    wrapped = Dict()
    # Grad-CAM is invariant to scaling the scores (the library scales each map to [0, 1]).
    got = attribkit.create_attributor("pgc:gradcam", wrapped, layer="net.layer3").attribute(
        x, target=[1, 2], additional_forward_args=(2.0,))
    torch.testing.assert_close(got[:, 0], _direct("pgc:gradcam", net, net.layer3, x, [1, 2]))


def test_bad_layer_is_an_option_error(model, x):
    with pytest.raises(attribkit.OptionError, match="no layer 'layr4'.*'layer4'"):
        attribkit.create_attributor("pgc:gradcam", model, layer="layr4")

    class Unused(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.spare, self.head = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 1), torch.nn.Linear(4, 5)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(inputs).mean((2, 3)))

    unused = Unused()
    with pytest.raises(attribkit.OptionError, match="not run by the forward pass"):
        attribkit.create_attributor("pgc:gradcam", unused, layer="spare").attribute(x, target=0)
    assert _hooks(unused) == 0


def test_registering_does_not_import_the_library():
    import subprocess
    import sys

    code = ("import sys, attribkit; attribkit.build_registry(); "
            "print('pytorch_grad_cam' in sys.modules, 'attribkit_gradcam._methods' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_attribkits_averaging_wraps_the_bridge(model, x):
    plain = attribkit.create_attributor("pgc:layercam", model, layer="layer3").attribute(x, target=1)
    noiseless = attribkit.create_attributor("pgc:layercam", model, layer="layer3", smoothgrad=2, noise=0.0)
    torch.testing.assert_close(noiseless.attribute(x, target=1), plain)
