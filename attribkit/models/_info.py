""":func:`model_info`: what attribkit knows of a model — the :class:`ModelInfo` attached when it was
loaded, else what the model says of itself, else defaults sized to its classifier.

The dataclasses live in ``_metadata`` (imported here, and importable from here as before); the guesses
from a model's own metadata in ``_guess``. Neither imports this module, so there is no cycle.
"""

from __future__ import annotations

import torch

from attribkit.models._guess import own_info, sized_class_names
from attribkit.models._imagenet import imagenet_classes
from attribkit.models._metadata import (
    INFO_ATTRIBUTE,
    ModelInfo,
    Preprocessing,
    attach_info,
    default_class_names,
)

__all__ = ["ModelInfo", "Preprocessing", "attach_info", "default_class_names", "imagenet_classes", "model_info"]


def model_info(model: torch.nn.Module) -> ModelInfo:
    """The attached :class:`ModelInfo`, else what the model says of itself, else torchvision's conventions.

    A model attribkit did not load still gets its own preprocessing when it carries it: a timm model its
    ``pretrained_cfg`` (mean, std, input size, crop_pct, interpolation), a Hugging Face model its
    ``config`` (``id2label``, ``image_size``). Anything else: ImageNet's 256 -> 224 and mean/std.

    Class names, when the model does not name its classes: ImageNet's for a classifier with 1000 outputs,
    ``"0"``, ``"1"``, ... for any other number (its last ``Linear``/``Conv2d`` layer's outputs), ImageNet's
    when no such layer is found. Give your own with ``load_model(model, classes=...)``.
    """
    info = getattr(model, INFO_ATTRIBUTE, None)
    if isinstance(info, ModelInfo):
        return info
    return own_info(model) or ModelInfo(type(model).__name__, class_names=sized_class_names(model))

