"""Every registered attributor on every model family: torchvision CNN, timm ConvNeXt, ViT, Swin, a Hugging
Face ViT (when ``transformers`` is installed), and models returning a tuple or a dict.

Checked: shapes and finite values for every method; ``saliency`` equals plain autograd; ``deconvnet`` and
``guided_backprop`` equal a reference built on a different mechanism (full backward hooks on the
activation modules); Grad-CAM on token and channels-last layers equals a naive reshape-and-average.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

import attribkit
from attribkit import create_attributor, set_output
from attribkit.transformers import explains_transformers_only

SIZE = 64
CLASSES = 5


def _timm(name: str, **kwargs) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    import timm

    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=CLASSES, **kwargs)


class TupleNet(torch.nn.Module):
    """A CNN returning ``(logits, features)``, as auxiliary-head models do."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(),
                                            torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 8, 3, padding=1),
                                            torch.nn.SiLU())
        self.fc = torch.nn.Linear(8, CLASSES)

    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        f = self.features(x)
        return self.fc(f.mean((2, 3))), f


class DictNet(TupleNet):
    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        logits, f = super().forward(x)
        return {"class_scores": logits, "features": f}


def _hf_vit() -> torch.nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=SIZE, patch_size=16, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=CLASSES)
    return transformers.ViTForImageClassification(config)


FAMILIES: dict[str, Callable[[], torch.nn.Module]] = {
    "torchvision_resnet": lambda: __import__("torchvision").models.resnet18(num_classes=CLASSES),
    "timm_convnext": lambda: _timm("test_convnext"),
    "timm_vit": lambda: _timm("test_vit", img_size=SIZE),
    "timm_swin": lambda: _timm("swin_tiny_patch4_window7_224", img_size=56, embed_dim=24, depths=(1, 1),
                               num_heads=(1, 2), window_size=7),
    "hf_vit": _hf_vit,
    "tuple_output": lambda: set_output(TupleNet(), 0),
    "dict_output": lambda: set_output(DictNet(), "class_scores"),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):  # type: ignore[no-untyped-def]
    model = attribkit.load_model(FAMILIES[request.param]())
    size = 56 if request.param == "timm_swin" else SIZE
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    return request.param, model, x


def _scores(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return attribkit.class_scores(model, x)


OPTIONS = {"captum:integrated_gradients": {"n_steps": 4}, "captum:occlusion": {"window": 16, "stride": 16}}


#: Transformer-only methods whose answer is per input pixel and channel (LRP), not a map over the tokens.
PIXEL_SPACE = ("attnlrp", "cplrp")


@pytest.mark.parametrize("method", attribkit.list_attributors())
def test_every_attributor_on_every_family(family, method):
    name, model, x = family
    only_vits = explains_transformers_only(method)
    if only_vits and name not in ("timm_vit", "hf_vit"):
        with pytest.raises(attribkit.ModelError, match=f"{method} explains vision transformers only"):
            create_attributor(method, model)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", attribkit.rules.UnsupportedActivationWarning)
        out = create_attributor(method, model, **OPTIONS.get(method, {})).attribute(x, target=[1, 3])
    token_map = only_vits and method not in PIXEL_SPACE
    channels = 1 if method in ("gradcam", "captum:gradcam") or method.startswith("pgc:") or token_map else 3
    assert out.shape == (2, channels, *x.shape[-2:])
    assert torch.isfinite(out).all()
    if method != "random":
        assert out.abs().sum() > 0


def test_saliency_is_plain_autograd(family):
    name, model, x = family
    got = create_attributor("saliency", model).attribute(x, top_k=2)
    xr = x.clone().requires_grad_(True)
    with torch.no_grad():
        top = _scores(model, x).topk(2, dim=1).indices
    for k in range(2):
        (want,) = torch.autograd.grad(_scores(model, xr).gather(1, top[:, k:k + 1]).sum(), xr)
        torch.testing.assert_close(got[:, k], want, rtol=1e-4, atol=1e-6)


ACTIVATIONS = {"ReLU", "GELU", "GELUTanh", "SiLU", "GELUActivation"}  # torch's, timm's and transformers' classes


def _hooked_reference(model: torch.nn.Module, x: torch.Tensor, target: int, rule: str) -> torch.Tensor:
    """The rule applied with full backward hooks on activation modules (not the engine's mechanism)."""
    inputs: dict[torch.nn.Module, list[torch.Tensor]] = {}
    handles = []

    def keep(module, args, out):  # type: ignore[no-untyped-def]
        inputs.setdefault(module, []).append(args[0].detach().clone())  # a reused module: one per call

    def backward(module, grad_input, grad_output):  # type: ignore[no-untyped-def]
        signal = grad_output[0].clamp(min=0)
        if rule == "deconvnet":
            inputs[module].pop()
            return (signal,)
        xd = inputs[module].pop().requires_grad_(True)  # backward meets the calls in reverse order
        with torch.enable_grad():
            (local,) = torch.autograd.grad(type(module).forward(module, xd).sum(), xd)
        return (signal * local,)

    acts = [m for m in model.modules() if type(m).__name__ in ACTIVATIONS]
    assert acts, "the family has activation modules"
    for m in acts:
        if getattr(m, "inplace", False):
            m.inplace = False
        handles += [m.register_forward_hook(keep), m.register_full_backward_hook(backward)]
    try:
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(_scores(model, xr)[:, target].sum(), xr)
    finally:
        for h in handles:
            h.remove()
    return grad


@pytest.mark.parametrize("rule", ["deconvnet", "guided_backprop"])
def test_rules_match_a_hook_reference(family, rule):
    name, model, x = family
    got = create_attributor(rule, model).attribute(x, target=2)
    want = _hooked_reference(model, x, 2, "deconvnet" if rule == "deconvnet" else "guided")
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def _naive_gradcam(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, target: int,
                   to_nhwc: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Grad-CAM written out: layer output as [N, h, w, D], weights = gradient averaged over h, w."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, a, out: seen.append(out))
    try:
        xr = x.clone().requires_grad_(True)
        score = _scores(model, xr)[:, target].sum()
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(score, seen[0])
    acts, grads = to_nhwc(seen[0].detach()), to_nhwc(grad)
    weights = grads.mean(dim=(1, 2), keepdim=True)
    cam = (weights * acts).sum(-1).unsqueeze(1)  # compared without Grad-CAM's final ReLU: more to check
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _tokens(prefix: int, h: int, w: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: t[:, prefix:].reshape(t.shape[0], h, w, t.shape[-1])


def _hf_vit_layer() -> str:
    try:
        import transformers
    except ImportError:
        return "vit.layers.1.layernorm_before"
    old = int(transformers.__version__.split(".")[0]) < 5
    return "vit.encoder.layer.1.layernorm_before" if old else "vit.layers.1.layernorm_before"


GRADCAM = {
    # family: (default layer, its output as [N, h, w, D])
    "timm_vit": ("blocks.5.norm1", _tokens(1, 4, 4)),
    "timm_swin": ("layers.1.blocks.0.norm1", lambda t: t),
    "timm_convnext": ("stages.3.blocks.1.norm", lambda t: t),
    # transformers 5 names the blocks vit.layers.N (vit.encoder.layer.N before).
    "hf_vit": (_hf_vit_layer(), _tokens(1, 4, 4)),
    "torchvision_resnet": ("layer4", lambda t: t.permute(0, 2, 3, 1)),
}


@pytest.mark.parametrize("method", ["gradcam", "captum:gradcam"])
def test_gradcam_default_layer_and_reshape(family, method):
    name, model, x = family
    if name not in GRADCAM:
        pytest.skip("no fixed Grad-CAM layer for this test model")
    layer_name, to_nhwc = GRADCAM[name]
    cam = create_attributor(method, model, relu=False)
    assert cam.layer_name == layer_name
    got = cam.attribute(x, target=1)
    want = _naive_gradcam(model, model.get_submodule(layer_name), x, 1, to_nhwc)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert got.std() > 0  # a map over the grid, not a constant


def test_gradcam_without_a_known_layer_on_a_transformer_asks_for_one():
    import attribkit_captum

    from attribkit.attribution import default_layer_name

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Conv2d(3, 8, 8, stride=8)
            self.norm = torch.nn.LayerNorm(8)
            self.head = torch.nn.Linear(8, 2)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.head(self.norm(self.embed(x).flatten(2).transpose(1, 2)).mean(1))

    with pytest.raises(LookupError, match="transformer blocks .* pass layer="):
        attribkit_captum.default_layer_name(Tiny())
    with pytest.raises(attribkit.OptionError, match="transformer blocks .* pass layer="):
        default_layer_name(Tiny())
    x = torch.randn(1, 3, 32, 32)
    cams = [create_attributor(m, Tiny(), layer="norm").attribute(x) for m in ("gradcam", "captum:gradcam")]
    assert cams[0].shape == (1, 1, 32, 32)


def test_gradcam_layer_without_a_grid_is_one_error():
    model = set_output(TupleNet(), 0)
    for method in ("gradcam", "captum:gradcam"):
        with pytest.raises(attribkit.OptionError, match=r"at layer 'fc'; it gives shape \(1, 5\)"):
            create_attributor(method, model, layer="fc").attribute(torch.randn(1, 3, 16, 16))


def test_torchvision_transformer_default_layers():
    import attribkit_captum
    import torchvision

    assert attribkit_captum.default_layer_name(torchvision.models.vit_b_16()) == "encoder.layers.encoder_layer_11.ln_1"
    assert attribkit_captum.default_layer_name(torchvision.models.swin_t()) == "features.7.1.norm1"
    assert attribkit_captum.default_layer_name(torchvision.models.convnext_tiny()) == "features.7.2.block.2"
