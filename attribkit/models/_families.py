"""Model families known by name: how each builds an architecture, finds its classifier and preprocesses.

* **torchvision** (``"resnet50"``, ``"torchvision:resnet50"``): resize, crop, interpolation, mean and std
  from the transforms of the architecture's ``DEFAULT`` weights enum (``EfficientNet_B3_Weights``: 320 ->
  300, bicubic), read offline from torchvision's metadata.
* **timm** (``"timm:convnext_tiny"``, any ``timm.list_models()`` name): input size, ``crop_pct``,
  interpolation, mean and std from the model's ``pretrained_cfg`` via ``timm.data.resolve_data_config``
  (resize = ``floor(size / crop_pct)``, as timm's own eval transform).

A family builds with a given number of classes, so a fine-tuned file resizes the classifier head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from attribkit.errors import ModelError
from attribkit.models._metadata import Preprocessing


@dataclass(frozen=True)
class Family:
    """How one family builds a model by architecture name and describes it."""

    name: str
    #: ``build(arch, num_classes or None for the default)``
    build: Callable[[str, "int | None"], torch.nn.Module]
    #: ``preprocessing(arch, model)``
    preprocessing: Callable[[str, torch.nn.Module], Preprocessing]
    #: Sorted architecture names.
    names: Callable[[], list[str]]

    def head(self, model: torch.nn.Module) -> tuple[str, int]:
        """``(state-dict key of the classifier weight, number of classes)``."""
        return classifier_of(model)


def classifier_of(model: torch.nn.Module) -> tuple[str, int]:
    """The classifier: timm's ``get_classifier()``, else the last ``Linear``/``Conv2d`` layer."""
    get_classifier = getattr(model, "get_classifier", None)
    head = get_classifier() if callable(get_classifier) else None
    if isinstance(head, (tuple, list)):  # distilled DeiT: (head, head_dist), sized alike
        head = head[0]
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    # timm's own answer when it names a layer, else the last Linear/Conv2d (torchvision's heads).
    named = [(n, m) for n, m in layers if m is head] or layers[-1:]
    if not named:
        raise ModelError(f"{type(model).__name__} has no Linear or Conv2d classifier")
    name, module = named[0]
    out = module.out_features if isinstance(module, torch.nn.Linear) else module.out_channels
    return f"{name}.weight", int(out)


# torchvision -------------------------------------------------------------------------------------------


def _torchvision_build(arch: str, num_classes: int | None) -> torch.nn.Module:
    import torchvision

    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
    return torchvision.models.get_model(arch, weights=None, **kwargs)


def _torchvision_preprocessing(arch: str, model: torch.nn.Module) -> Preprocessing:
    transforms = _torchvision_weights(arch).transforms()
    return Preprocessing(
        resize=int(transforms.resize_size[0]),
        crop=int(transforms.crop_size[0]),
        mean=tuple(transforms.mean),  # type: ignore[arg-type]
        std=tuple(transforms.std),  # type: ignore[arg-type]
        interpolation=transforms.interpolation.value,
    )


def _torchvision_weights(arch: str):  # type: ignore[no-untyped-def]
    import torchvision

    return torchvision.models.get_model_weights(arch).DEFAULT


@lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    import torchvision

    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


# timm --------------------------------------------------------------------------------------------------


def _timm_build(arch: str, num_classes: int | None) -> torch.nn.Module:
    import timm

    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
    return timm.create_model(arch, pretrained=False, **kwargs)


def timm_preprocessing(arch: str, model: torch.nn.Module) -> Preprocessing:
    """A timm model's eval preprocessing from its ``pretrained_cfg`` (``arch`` is unused)."""
    from timm.data import resolve_data_config

    cfg = resolve_data_config(model=model)
    size = int(cfg["input_size"][-1])
    interpolation = cfg.get("interpolation", "bilinear")
    return Preprocessing(
        resize=max(size, math.floor(size / float(cfg.get("crop_pct", 0.875)))),
        crop=size,
        mean=tuple(float(m) for m in cfg["mean"]),  # type: ignore[arg-type]
        std=tuple(float(s) for s in cfg["std"]),  # type: ignore[arg-type]
        interpolation=interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear",
    )


@lru_cache(maxsize=1)
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(sorted(timm.list_models()))


FAMILIES = {
    "torchvision": Family("torchvision", _torchvision_build, _torchvision_preprocessing,
                          lambda: list(_torchvision_names())),
    "timm": Family("timm", _timm_build, timm_preprocessing, lambda: list(_timm_names())),
}
