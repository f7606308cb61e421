"""What a model attribkit did not load says of itself: a timm model's ``pretrained_cfg``, a Hugging Face
model's ``config``. Read by :func:`attribkit.model_info` when no :class:`ModelInfo` is attached."""

from __future__ import annotations

import torch

from attribkit.errors import ModelError
from attribkit.models._families import classifier_of, timm_preprocessing
from attribkit.models._imagenet import imagenet_classes
from attribkit.models._metadata import ModelInfo, Preprocessing, default_class_names


def own_info(model: torch.nn.Module) -> ModelInfo | None:
    """The model's own preprocessing (and, for Hugging Face, class names), or ``None`` if it says nothing."""
    return hugging_face_info(model) or timm_info(model)


def timm_info(model: torch.nn.Module) -> ModelInfo | None:
    """A timm model (it carries a ``pretrained_cfg`` with mean and std): its own preprocessing, and class
    names sized to its classifier (ImageNet's for 1000 classes, else ``"0"``, ``"1"``, ...)."""
    cfg = getattr(model, "pretrained_cfg", None)
    if not isinstance(cfg, dict) or "mean" not in cfg or "std" not in cfg:
        return None
    return ModelInfo(type(model).__name__, timm_preprocessing("", model), sized_class_names(model))


def hugging_face_info(model: torch.nn.Module) -> ModelInfo | None:
    """Class names and input size from a Hugging Face model's config (``id2label``, ``image_size``)."""
    config = getattr(model, "config", None)
    labels = getattr(config, "id2label", None)
    if not isinstance(labels, dict) or not labels:
        return None
    names = tuple(str(labels[i]) for i in sorted(labels))
    size = getattr(config, "image_size", None)
    size = size[-1] if isinstance(size, (tuple, list)) else size
    # Hugging Face image processors resize straight to image_size (no larger resize + crop).
    preprocessing = Preprocessing(resize=int(size), crop=int(size)) if isinstance(size, int) else Preprocessing()
    return ModelInfo(type(model).__name__, preprocessing, names)


def sized_class_names(model: torch.nn.Module) -> tuple[str, ...]:
    """Names for a model that does not name its classes, sized to its classifier (its last ``Linear`` or
    ``Conv2d`` layer): ImageNet's for 1000 outputs, else ``"0"``, ``"1"``, ...; ImageNet's when there is
    no such layer to size by (a TorchScript module, a purely functional model)."""
    try:
        return default_class_names(classifier_of(model)[1])
    except ModelError:  # no layer to size by
        return imagenet_classes()
