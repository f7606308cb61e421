"""Which layer Grad-CAM explains: attribkit's default per architecture, or a dotted module name.

The defaults are attribkit's (:func:`attribkit.attribution.default_layer_name`), so ``captum:gradcam``
and the built-in ``gradcam`` explain the same layer: the last block's norm for ViT, DeiT, Swin and
ConvNeXt, the last feature block for CNNs, an error asking for ``layer=`` for unknown transformers.
"""

from __future__ import annotations

import torch

from attribkit.attribution import find_layer as _attribkit_find_layer
from attribkit.errors import OptionError


class LayerError(OptionError, LookupError):
    """A ``layer=`` name that is not a submodule of the model, or a model with no default layer: the
    :class:`~attribkit.errors.OptionError` attribkit's own ``gradcam`` raises for the same mistake, and
    still a ``LookupError``, as it was before the error tree."""

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0])


def default_layer_name(model: torch.nn.Module) -> str:
    """The layer Grad-CAM uses when none is named (:func:`attribkit.attribution.default_layer_name`).

    Example
    -------
    >>> import torchvision
    >>> default_layer_name(torchvision.models.resnet18())
    'layer4'
    """
    return find_layer(model, None)[0]


def find_layer(model: torch.nn.Module, name: str | None) -> tuple[str, torch.nn.Module]:
    """``(name, module)`` for a dotted module name (``None``: the default layer); :class:`LayerError` if none."""
    try:
        return _attribkit_find_layer(model, name)
    except OptionError as exc:
        raise LayerError(str(exc)) from None
