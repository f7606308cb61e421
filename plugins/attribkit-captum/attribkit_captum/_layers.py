"""Which layer Grad-CAM explains: a sensible default per architecture, or a dotted module name.

Transformers and ConvNeXt default to the last block's norm, the layer the CAM literature and
pytorch-grad-cam's documentation use ("Chosing the target layer": ``model.blocks[-1].norm1`` for ViT and
DeiT, ``model.layers[-1].blocks[-1].norm1`` for Swin), found by the model's class (exact qualified name,
no import of the library needed). A model with transformer blocks but no known class gets an error that
asks for ``layer=`` rather than the patch embedding (its last ``Conv2d``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import torch

#: Attribute names tried in order: the last feature map before global pooling in common families.
#: timm EfficientNets end ``conv_head -> bn2`` (bn2 carries the activation, so it is the rectified
#: feature map Grad-CAM was defined on); torchvision ResNets end in ``layer4``; VGG, AlexNet, DenseNet,
#: MobileNet, EfficientNet and ConvNeXt keep their convolutional trunk in ``features``.
_DEFAULT_LAYERS = ("bn2", "layer4", "features", "trunk_output", "stages")


class LayerError(LookupError):
    """A ``layer=`` name that is not a submodule of the model."""

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0])


def _last(module: torch.nn.Module) -> str:
    return str(len(module) - 1)  # type: ignore[arg-type]


#: Qualified class name (or a base class's) -> the dotted name of its default Grad-CAM layer.
FAMILY_LAYERS: dict[str, Callable[[Any], str]] = {
    "timm.models.vision_transformer.VisionTransformer": lambda m: f"blocks.{_last(m.blocks)}.norm1",
    "timm.models.swin_transformer.SwinTransformer":
        lambda m: f"layers.{_last(m.layers)}.blocks.{_last(m.layers[-1].blocks)}.norm1",
    "timm.models.convnext.ConvNeXt":
        lambda m: f"stages.{_last(m.stages)}.blocks.{_last(m.stages[-1].blocks)}.norm",
    "torchvision.models.vision_transformer.VisionTransformer":
        lambda m: f"encoder.layers.encoder_layer_{len(m.encoder.layers) - 1}.ln_1",
    "torchvision.models.swin_transformer.SwinTransformer":
        lambda m: f"features.{_last(m.features)}.{_last(m.features[-1])}.norm1",
    "torchvision.models.convnext.ConvNeXt":
        lambda m: f"features.{_last(m.features)}.{_last(m.features[-1])}.block.2",
    "transformers.models.vit.modeling_vit.ViTForImageClassification":
        lambda m: f"vit.encoder.layer.{_last(m.vit.encoder.layer)}.layernorm_before",
    "transformers.models.deit.modeling_deit.DeiTForImageClassification":
        lambda m: f"deit.encoder.layer.{_last(m.deit.encoder.layer)}.layernorm_before",
    "transformers.models.swin.modeling_swin.SwinForImageClassification":
        lambda m: (f"swin.encoder.layers.{_last(m.swin.encoder.layers)}.blocks."
                   f"{_last(m.swin.encoder.layers[-1].blocks)}.layernorm_before"),
    "transformers.models.convnext.modeling_convnext.ConvNextForImageClassification":
        lambda m: (f"convnext.encoder.stages.{_last(m.convnext.encoder.stages)}.layers."
                   f"{_last(m.convnext.encoder.stages[-1].layers)}.layernorm"),
}


def _family_layer(model: torch.nn.Module) -> str | None:
    for cls in type(model).__mro__:
        rule = FAMILY_LAYERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if rule is not None:
            return rule(model)
    return None


def _has_transformer_blocks(model: torch.nn.Module) -> bool:
    """Attention or a LayerNorm after the last Conv2d: the last Conv2d is then a patch embedding."""
    last_conv, last_norm = -1, -1
    for i, module in enumerate(model.modules()):
        if isinstance(module, torch.nn.Conv2d):
            last_conv = i
        elif isinstance(module, (torch.nn.LayerNorm, torch.nn.MultiheadAttention)):
            last_norm = i
    return last_norm > last_conv


def default_layer_name(model: torch.nn.Module) -> str:
    """The layer Grad-CAM uses when none is named: the last block's norm for ViT, DeiT, Swin and ConvNeXt
    (timm, torchvision, Hugging Face), a known last feature block, else the last Conv2d.

    Example
    -------
    >>> import torchvision
    >>> default_layer_name(torchvision.models.resnet18())
    'layer4'
    """
    family = _family_layer(model)
    if family is not None:
        return family
    children = dict(model.named_children())
    for name in _DEFAULT_LAYERS:
        if name in children:
            return name
    if _has_transformer_blocks(model):
        raise LayerError(
            f"{type(model).__name__} has transformer blocks and no known Grad-CAM layer; pass "
            "layer='dotted.module.name', usually the last block's first norm (e.g. 'blocks.11.norm1')"
        )
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise LayerError(
            f"{type(model).__name__} has no Conv2d layer, so Grad-CAM has no default layer; "
            "pass layer='dotted.module.name'"
        )
    return convs[-1]


def find_layer(model: torch.nn.Module, name: str | None) -> tuple[str, torch.nn.Module]:
    """``(name, module)`` for a dotted module name (``None``: :func:`default_layer_name`)."""
    name = default_layer_name(model) if name is None else name
    try:
        return name, model.get_submodule(name)
    except AttributeError:
        known = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise LayerError(f"{type(model).__name__} has no layer {name!r}.{hint}") from None
