"""What a model needs beside its weights: input preprocessing and class names.

They are attached to the module as one attribute, ``model.attribkit_info`` (a :class:`ModelInfo`), so a
model keeps its own type, state-dict keys and layer names. :func:`model_info` reads it, falling back to the
torchvision ImageNet conventions for a model attribkit did not load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import torch

from attribkit._core.targets import Targets, resolve_targets
from attribkit.errors import OptionError

INFO_ATTRIBUTE = "attribkit_info"


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names in index order (sorted WordNet ids), from torchvision, offline."""
    from torchvision.models import VGG16_Weights

    return tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


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
        from attribkit.data._annotations import imagenet_wnids

        return imagenet_wnids() if len(self.class_names) == 1000 else None


def attach_info(model: torch.nn.Module, info: ModelInfo) -> torch.nn.Module:
    """Attach ``info`` to ``model`` (as ``model.attribkit_info``) and return the model."""
    object.__setattr__(model, INFO_ATTRIBUTE, info)
    return model


def model_info(model: torch.nn.Module) -> ModelInfo:
    """The attached :class:`ModelInfo`, else what the model says of itself, else torchvision's conventions.

    A model attribkit did not load still gets its own preprocessing when it carries it: a timm model its
    ``pretrained_cfg`` (mean, std, input size, crop_pct, interpolation), a Hugging Face model its
    ``config`` (``id2label``, ``image_size``). Anything else: ImageNet's 256 -> 224, mean/std, class names.
    """
    info = getattr(model, INFO_ATTRIBUTE, None)
    if isinstance(info, ModelInfo):
        return info
    from attribkit.models._guess import own_info

    return own_info(model) or ModelInfo(name=type(model).__name__)
