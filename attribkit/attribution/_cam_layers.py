"""Which layer a class-activation map explains, and how its output lies on the image grid.

Default layers: ViT, DeiT, Swin and ConvNeXt (timm, torchvision, Hugging Face) use the last block's norm,
the layer pytorch-grad-cam's documentation recommends ("Chosing the target layer": ``blocks[-1].norm1``
for ViT/DeiT, ``layers[-1].blocks[-1].norm1`` for Swin), found by the model's class (exact qualified
name, no import of the library). Other models: the last feature block before pooling, else the last
``Conv2d``; a model with transformer blocks and no known class must name ``layer=`` (its last ``Conv2d``
is the patch embedding).

Layouts: a feature map ``[N, D, h, w]``; a channels-last map ``[N, h, w, D]`` (Swin blocks, ConvNeXt's
block norm); transformer tokens ``[N, P + h*w, D]`` with ``P`` class/distillation tokens first. Each is
turned into ``[N, D, h, w]`` before the gradient is averaged over the grid, as pytorch-grad-cam's
``reshape_transform`` does (its "How does it work with Vision Transformers" tutorial).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from attribkit.errors import OptionError

#: Child names tried in order: the last feature map before global pooling in common families. timm
#: EfficientNets end ``conv_head -> bn2`` (bn2 carries the activation: the rectified feature map Grad-CAM
#: was defined on); torchvision ResNets end in ``layer4``; VGG, AlexNet, DenseNet, MobileNet and
#: EfficientNet keep their convolutional trunk in ``features``.
DEFAULT_LAYERS = ("bn2", "layer4", "features", "trunk_output", "stages")


def _last(module: Any) -> str:
    return str(len(module) - 1)


def _hf_blocks(backbone: Any) -> str:
    """The last transformer block of a Hugging Face ViT/DeiT backbone: ``encoder.layer.N`` up to
    transformers 4, ``layers.N`` from transformers 5 on."""
    encoder = getattr(backbone, "encoder", None)
    if encoder is not None and hasattr(encoder, "layer"):
        return f"encoder.layer.{_last(encoder.layer)}"
    return f"layers.{_last(backbone.layers)}"


#: Qualified class name (or a base class's) -> the dotted name of its default layer.
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
        lambda m: f"vit.{_hf_blocks(m.vit)}.layernorm_before",
    "transformers.models.deit.modeling_deit.DeiTForImageClassification":
        lambda m: f"deit.{_hf_blocks(m.deit)}.layernorm_before",
    "transformers.models.swin.modeling_swin.SwinForImageClassification":
        lambda m: (f"swin.encoder.layers.{_last(m.swin.encoder.layers)}.blocks."
                   f"{_last(m.swin.encoder.layers[-1].blocks)}.layernorm_before"),
    "transformers.models.convnext.modeling_convnext.ConvNextForImageClassification":
        lambda m: (f"convnext.encoder.stages.{_last(m.convnext.encoder.stages)}.layers."
                   f"{_last(m.convnext.encoder.stages[-1].layers)}.layernorm"),
}

#: Class and distillation tokens before the patch tokens, for models that do not say (timm models carry
#: ``num_prefix_tokens``).
PREFIX_TOKENS = {"transformers.models.deit.modeling_deit.DeiTForImageClassification": 2}


def _qualified(model: torch.nn.Module) -> list[str]:
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(model).__mro__]


def default_layer_name(model: torch.nn.Module) -> str:
    """The layer a class-activation map uses when none is named (see the module docstring).

    Raises
    ------
    OptionError
        No default: transformer blocks of an unknown class, or no ``Conv2d`` (pass ``layer=``).

    Example
    -------
    >>> import torchvision
    >>> default_layer_name(torchvision.models.resnet18())
    'layer4'
    """
    for name in _qualified(model):
        if name in FAMILY_LAYERS:
            return FAMILY_LAYERS[name](model)
    children = dict(model.named_children())
    for name in DEFAULT_LAYERS:
        if name in children:
            return name
    if _has_transformer_blocks(model):
        raise OptionError(f"{type(model).__name__} has transformer blocks and no known Grad-CAM layer; pass "
                          "layer='dotted.module.name', usually the last block's first norm (e.g. 'blocks.11.norm1')")
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise OptionError(f"{type(model).__name__} has no Conv2d layer, so Grad-CAM has no default layer; "
                          "pass layer='dotted.module.name'")
    return convs[-1]


def _has_transformer_blocks(model: torch.nn.Module) -> bool:
    """Attention or a LayerNorm after the last Conv2d: the last Conv2d is then a patch embedding."""
    last_conv, last_norm = -1, -1
    for i, module in enumerate(model.modules()):
        if isinstance(module, torch.nn.Conv2d):
            last_conv = i
        elif isinstance(module, (torch.nn.LayerNorm, torch.nn.MultiheadAttention)):
            last_norm = i
    return last_norm > last_conv


def prefix_tokens(model: torch.nn.Module) -> int | None:
    """How many class/distillation tokens precede the patch tokens, when the model says."""
    count = getattr(model, "num_prefix_tokens", None)
    if isinstance(count, int):
        return count
    return next((PREFIX_TOKENS[n] for n in _qualified(model) if n in PREFIX_TOKENS), None)


@dataclass(frozen=True)
class FeatureLayout:
    """How a layer's output lies on the image grid, and how to turn it into ``[N, D, h, w]`` and back."""

    kind: str  # "nchw" | "nhwc" | "tokens"
    prefix: int = 0
    grid: tuple[int, int] = (0, 0)

    def to_spatial(self, out: torch.Tensor) -> torch.Tensor:
        """``[N, D, h, w]`` (a view where possible); prefix tokens are left out."""
        if self.kind == "nchw":
            return out
        if self.kind == "nhwc":
            return out.permute(0, 3, 1, 2)
        h, w = self.grid
        return out[:, self.prefix:].reshape(out.shape[0], h, w, out.shape[-1]).permute(0, 3, 1, 2)

    def from_spatial(self, spatial: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_spatial`, taking the prefix tokens from ``out``."""
        if self.kind == "nchw":
            return spatial
        if self.kind == "nhwc":
            return spatial.permute(0, 2, 3, 1)
        tokens = spatial.permute(0, 2, 3, 1).reshape(out.shape[0], -1, out.shape[-1])
        return torch.cat([out[:, : self.prefix], tokens], dim=1)


def feature_layout(
    out: Any,
    name: str,
    *,
    layer: torch.nn.Module | None = None,
    image: tuple[int, int] | None = None,
    prefix: int | None = None,
) -> FeatureLayout:
    """The layout of a layer's output ``out``.

    Parameters
    ----------
    out
        The layer's output.
    name
        The layer's name, for messages.
    layer
        The layer: a ``LayerNorm`` over the last axis of a 4-d output marks it channels-last.
    image
        ``(H, W)`` of the input: the grid must have its aspect ratio (default: a square grid).
    prefix
        Class tokens before the patch tokens (default: 1 or 0, whichever leaves a grid).

    Raises
    ------
    OptionError
        Not a tensor, or no grid can be read from its shape (name another layer).
    """
    if not isinstance(out, torch.Tensor):
        raise OptionError(f"layer {name!r} returns {type(out).__name__}, not one tensor; pass layer= naming a "
                          "module that returns feature maps or tokens")
    shape = tuple(out.shape)
    aspect = image or (1, 1)
    if out.ndim == 4:
        norm_last = isinstance(layer, torch.nn.LayerNorm) and tuple(layer.normalized_shape) == shape[-1:]
        if norm_last or (image is not None and _fits(shape[1:3], aspect) and not _fits(shape[2:4], aspect)):
            return FeatureLayout("nhwc")
        return FeatureLayout("nchw")
    if out.ndim == 3:
        for skip in (prefix,) if prefix is not None else (1, 0):
            grid = _grid(shape[1] - skip, aspect)
            if grid is not None:
                return FeatureLayout("tokens", skip, grid)
    raise OptionError(f"Grad-CAM needs feature maps [N, D, h, w] / [N, h, w, D] or tokens [N, T, D] on the "
                      f"input's grid at layer {name!r}; it gives shape {shape}: pass layer= naming another layer")


def _fits(hw: tuple[int, ...], image: tuple[int, int]) -> bool:
    h, w = hw
    return h > 0 and w > 0 and h * image[1] == w * image[0]


def _grid(count: int, image: tuple[int, int]) -> tuple[int, int] | None:
    """``(h, w)`` with ``h * w = count`` and ``h / w = H / W``, if any."""
    if count <= 0:
        return None
    w = math.isqrt(round(count * image[1] / image[0]))
    for candidate in (w - 1, w, w + 1):
        if candidate > 0 and count % candidate == 0 and _fits((count // candidate, candidate), image):
            return count // candidate, candidate
    return None
