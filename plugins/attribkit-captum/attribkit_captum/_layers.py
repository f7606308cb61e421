"""Which layer Grad-CAM explains: a sensible default per architecture, or a dotted module name."""

from __future__ import annotations

import difflib

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


def default_layer_name(model: torch.nn.Module) -> str:
    """The layer Grad-CAM uses when none is named: a known last feature block, else the last Conv2d.

    Example
    -------
    >>> import torchvision
    >>> default_layer_name(torchvision.models.resnet18())
    'layer4'
    """
    children = dict(model.named_children())
    for name in _DEFAULT_LAYERS:
        if name in children:
            return name
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
