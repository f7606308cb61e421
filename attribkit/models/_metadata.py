"""What a model needs beside its weights: input preprocessing and class names.

They are attached to the module as one attribute, ``model.attribkit_info`` (a :class:`ModelInfo`), so a
model keeps its own type, state-dict keys and layer names. :func:`~attribkit.model_info` (in ``_info``)
reads it. This module imports no other part of ``attribkit.models``: the families, the guesses from a
model's own metadata and the loader all build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from attribkit._core.targets import Targets, resolve_targets
from attribkit.errors import OptionError
from attribkit.models._imagenet import imagenet_classes, imagenet_wnids

INFO_ATTRIBUTE = "attribkit_info"


def default_class_names(count: int) -> tuple[str, ...]:
    """ImageNet's names for a 1000-class model, else the indices as strings (``"0"``, ``"1"``, ...).

    A model with another number of outputs is not an ImageNet classifier: ImageNet's names would let a
    10-class model accept ``target="goldfish"`` and label class 8 "hen".
    """
    return imagenet_classes() if count == 1000 else tuple(str(i) for i in range(count))


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side, centre-crop a square, normalise ``(x - mean) / std`` per channel.

    ``mean`` and ``std`` are on the 0–1 scale of the RGB values; ``interpolation`` is the resampling of
    the resize (``"bilinear"``, ``"bicubic"`` or ``"nearest"``, as the model's own eval transform).
    """

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise OptionError(f"need 0 < crop <= resize; got crop={self.crop}, resize={self.resize}")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise OptionError(f"interpolation must be 'bilinear', 'bicubic' or 'nearest'; got {self.interpolation!r}")

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(-1, 1, 1)
        return mean, std

    def normalise(self, rgb01: torch.Tensor) -> torch.Tensor:
        """``[..., 3, H, W]`` RGB in ``[0, 1]`` → the model's input space."""
        mean, std = self._stats(rgb01)
        return (rgb01 - mean) / std

    def denormalise(self, inputs: torch.Tensor) -> torch.Tensor:
        """The model's input space → RGB on the 0–1 scale (not clipped)."""
        mean, std = self._stats(inputs)
        return inputs * std + mean


@dataclass(frozen=True)
class ModelInfo:
    """A model's name, preprocessing and class names."""

    name: str
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    class_names: tuple[str, ...] = field(default_factory=imagenet_classes)

    def class_index(self, name_or_index: str | int) -> int:
        """A class index from an index, a numeric string, a class name (case-insensitive) or, for an
        ImageNet-1k model, a WordNet id (``"n02124075"``); :class:`~attribkit.TargetError` otherwise."""
        return int(self.targets(name_or_index, batch=1).index[0, 0])

    def targets(
        self,
        target: Any = None,
        top_k: int | None = None,
        scores: torch.Tensor | None = None,
        *,
        batch: int | None = None,
    ) -> Targets:
        """:func:`~attribkit.resolve_targets` with this model's class names and WordNet ids."""
        return resolve_targets(target, top_k, scores, batch=batch, classes=self.class_names,
                               wnids=self._wnids)

    def _wnids(self) -> tuple[str, ...] | None:
        # ImageNet-1k class order is sorted WordNet ids (torchvision's and timm's order); any 1000-class
        # model is read as ImageNet's, as annotations name their classes by wnid.
        return imagenet_wnids() if len(self.class_names) == 1000 else None


def attach_info(model: torch.nn.Module, info: ModelInfo) -> torch.nn.Module:
    """Attach ``info`` to ``model`` (as ``model.attribkit_info``) and return the model."""
    object.__setattr__(model, INFO_ATTRIBUTE, info)
    return model

