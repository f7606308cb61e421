"""The Captum bridge plugin: each ``captum:*`` attributor equals calling Captum directly."""

from __future__ import annotations

import pytest
import torch

import attribkit

captum_attr = pytest.importorskip("captum.attr")
attribkit_captum = pytest.importorskip(
    "attribkit_captum", reason="install the bridge: pip install -e plugins/attribkit-captum"
)

from conftest import tiny_cnn  # noqa: E402

NAMES = [
    "captum:gradcam",
    "captum:input_x_gradient",
    "captum:integrated_gradients",
    "captum:occlusion",
]


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(3, 3, 16, 16, dtype=torch.float64)


def test_every_bridged_method_is_registered_by_the_captum_plugin():
    registry = attribkit.build_registry()
    assert registry.names("attributor", "captum:*") == NAMES
    assert {registry.get("attributor", n).plugin for n in NAMES} == {"captum"}
    assert registry.distributions["captum"] == "attribkit-captum"


def test_declared_options_are_the_classes_own():
    """The plugin declares options without importing Captum; they must be what each class takes."""
    from attribkit._core.registry import signature_options
    from attribkit_captum import _methods
    from attribkit_captum.plugin import METHODS

    for name, (class_name, _, declared) in METHODS.items():
        assert declared == signature_options(getattr(_methods, class_name), skip=1), name
    with pytest.raises(attribkit.OptionError, match="unknown option 'n_step' for captum:integrated_gradients"):
        attribkit.create_attributor("captum:integrated_gradients", tiny_cnn(), n_step=4)


def _direct(name: str, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference: Captum called the way its documentation shows, with the bridge's defaults."""
    ca = captum_attr
    if name == "captum:integrated_gradients":
        return ca.IntegratedGradients(model).attribute(x, baselines=0.0, target=target, n_steps=50)
    if name == "captum:input_x_gradient":
        return ca.InputXGradient(model).attribute(x, target=target)
    if name == "captum:occlusion":
        return ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8), baselines=0.0, target=target)
    if name == "captum:gradcam":
        cam = ca.LayerGradCam(model, model[3]).attribute(x, target=target, relu_attributions=True)
        return ca.LayerAttribution.interpolate(cam, (16, 16), interpolate_mode="bilinear")
    raise AssertionError(name)


@pytest.mark.parametrize("name", NAMES)
def test_bridge_equals_captum_called_directly(name, x):
    model = tiny_cnn().eval()
    target = torch.tensor([0, 3, 9])
    got = attribkit.create_attributor(name, model).attribute(x, target=target)
    want = _direct(name, model, x, target)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want.detach())
    assert got.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_top_k_loops_over_classes_with_the_contract_shape(name, x):
    model = tiny_cnn().eval()
    attributor = attribkit.create_attributor(name, model)
    torch.manual_seed(0)
    many = attributor.attribute(x, top_k=2)
    channels = 1 if name == "captum:gradcam" else 3
    assert many.shape == (3, 2, channels, 16, 16)
    top = model(x).topk(2, dim=1).indices
    torch.testing.assert_close(many[:, 1], attributor.attribute(x, target=top[:, 1]))
    torch.testing.assert_close(many, attributor.attribute(x, target=top))
    assert attributor.attribute(x).shape == (3, channels, 16, 16)


def _our_noise(monkeypatch, seed: int = 0) -> None:
    """Captum's NoiseTunnel draws the noise attribkit's SmoothGrad draws: one CPU generator, reseeded for
    every image (the reference loops over images), ``randn`` per batch of noisy copies."""
    generator = torch.Generator().manual_seed(seed)

    def add_noise(inputs, stdev, samples):  # type: ignore[no-untyped-def]
        if samples == 0:
            return inputs
        assert inputs.shape[0] == 1
        eps = torch.randn((samples, *inputs.shape[1:]), generator=generator).to(inputs)
        return inputs + stdev * eps

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(add_noise))


@pytest.mark.parametrize("kind", ["smoothgrad", "vargrad"])
@pytest.mark.parametrize("name", ["captum:input_x_gradient", "saliency"])
def test_averaging_wrappers_equal_captum_noise_tunnel(name, kind, x, monkeypatch):
    """attribkit's SmoothGrad/VarGrad around any method = Captum's NoiseTunnel around the same method,
    fed the same noise (11 copies: one batch of 8 and one of 3 on both sides)."""
    model = tiny_cnn().eval()
    target = torch.tensor([0, 3, 9])
    got = attribkit.create_attributor(name, model, **{kind: 11}, noise=0.2).attribute(x, target=target)
    method = captum_attr.InputXGradient if name == "captum:input_x_gradient" else captum_attr.Saliency
    want = []
    for i in range(x.shape[0]):
        _our_noise(monkeypatch)
        sd = 0.2 * float(x[i].max() - x[i].min())
        extra = {"abs": False} if method is captum_attr.Saliency else {}
        want.append(captum_attr.NoiseTunnel(method(model)).attribute(
            x[i : i + 1], nt_type=kind, nt_samples=11, nt_samples_batch_size=8, stdevs=sd,
            target=target[i : i + 1], **extra))
    want = torch.cat(want)
    if kind == "vargrad":
        want = want.clamp(min=0)
    torch.testing.assert_close(got, want.detach())
    assert got.abs().sum() > 0


def test_smoothgrad_is_no_longer_a_bridge_method():
    with pytest.raises(attribkit.UnknownMethodError):
        attribkit.create_attributor("captum:smoothgrad", tiny_cnn())


def test_gradcam_default_layer_per_model(default_model):
    import torchvision

    assert attribkit_captum.default_layer_name(default_model) == "bn2"
    assert attribkit_captum.default_layer_name(torchvision.models.resnet18()) == "layer4"
    assert attribkit_captum.default_layer_name(torchvision.models.vgg11()) == "features"
    assert attribkit_captum.default_layer_name(torchvision.models.alexnet()) == "features"
    assert attribkit_captum.default_layer_name(tiny_cnn()) == "3"  # the last Conv2d


def test_gradcam_layer_option_and_bad_layer_message(x):
    model = tiny_cnn().eval()
    first = attribkit.create_attributor("captum:gradcam", model, layer="0")
    assert first.layer is model[0]
    cam = first.attribute(x, target=1)
    assert cam.shape == (3, 1, 16, 16) and (cam >= 0).all()
    with pytest.raises(LookupError, match="no layer 'fetures'"):
        attribkit.create_attributor("captum:gradcam", torch.nn.Sequential(
            torch.nn.Sequential(torch.nn.Conv2d(3, 1, 1))), layer="fetures")


def test_gradcam_on_the_default_model_points_at_the_cat(default_model, chelsea):
    x = attribkit.load_image(chelsea, default_model).tensor
    cam = attribkit.create_attributor("captum:gradcam", default_model).attribute(x, target=285)
    assert cam.shape == (1, 1, 224, 224)
    # The cat fills the left and centre of the crop; the right edge is background.
    assert cam[0, 0, :, :112].mean() > cam[0, 0, :, 190:].mean()


def test_mode_and_flags_restored_after_an_exception(x):
    model = tiny_cnn().train()
    flags = [p.requires_grad for p in model.parameters()]
    attributor = attribkit.create_attributor("captum:integrated_gradients", model)
    with pytest.raises(attribkit.TargetError):
        attributor.attribute(x, target=99)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    attributor.attribute(x, target=0)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags


def test_bad_inputs_and_options_are_clear_errors(x):
    model = tiny_cnn()
    with pytest.raises(TypeError, match="torch.Tensor"):
        attribkit.create_attributor("captum:input_x_gradient", model).attribute(x.numpy())
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        attribkit.create_attributor("captum:input_x_gradient", model).attribute(x[0])
    with pytest.raises(ValueError, match="window and stride"):
        attribkit.create_attributor("captum:occlusion", model, window=0)
    with pytest.raises(ValueError, match="samples"):
        attribkit.create_attributor("captum:input_x_gradient", model, smoothgrad=-1)


def test_additional_forward_args_reach_the_model(x):
    class Scaled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn()

        def forward(self, inputs, scale):
            return self.net(inputs) * scale

    model = Scaled()
    scale = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    for smoothing in ({}, {"smoothgrad": 3, "noise": 0.0}):
        attributor = attribkit.create_attributor("captum:input_x_gradient", model, **smoothing)
        got = attributor.attribute(x, target=0, additional_forward_args=(scale,))
        plain = attribkit.create_attributor("captum:input_x_gradient", model.net, **smoothing)
        torch.testing.assert_close(got, plain.attribute(x, target=0) * scale.view(3, 1, 1, 1))


def test_usable_from_the_cli(tmp_path, chelsea, fresh_registry):
    from PIL import Image

    from attribkit.cli import main

    photo = tmp_path / "cat.jpg"
    Image.fromarray(chelsea).save(photo)
    assert main(["saliency", str(photo), "--method", "captum:gradcam", "--top-k", "2", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("cat_*_captum_gradcam.png"))) == 2


def test_registering_does_not_import_captum():
    import subprocess
    import sys

    code = ("import sys, attribkit; attribkit.build_registry(); "
            "print('captum.attr' in sys.modules, 'attribkit_captum._methods' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
