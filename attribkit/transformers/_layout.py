"""How a vision transformer's tokens lie on the image: prefix tokens, then the patch grid, row by row;
and a token map turned into an image map the way Grad-CAM maps are (bilinear, ``align_corners=False``),
so every stage downstream (averaging wrappers, ``localise``, ``evaluate``, ``study``, panels) takes it
unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attribkit.attribution._cam_layers import feature_layout, prefix_tokens
from attribkit.errors import ModelError, OptionError

#: Prefix tokens of families that do not carry ``num_prefix_tokens`` (timm models do; Hugging Face DeiT is
#: in :data:`attribkit.attribution._cam_layers.PREFIX_TOKENS`): the class token.
CLASS_TOKEN_ONLY = (
    "torchvision.models.vision_transformer.VisionTransformer",
    "transformers.models.vit.modeling_vit.ViTModel",
    "transformers.models.vit.modeling_vit.ViTForImageClassification",
)


@dataclass(frozen=True)
class TokenLayout:
    """Tokens ``[prefix (class, distillation, register tokens) | h × w patches, row-major]``.

    Attributes
    ----------
    prefix
        Tokens before the patches (1 for ViT's class token, 2 for DeiT-distilled, 1 + registers, ...).
    grid
        ``(h, w)``, the patch grid (14 × 14 for a 224-pixel input and 16-pixel patches).
    """

    prefix: int
    grid: tuple[int, int]

    @property
    def tokens(self) -> int:
        """``prefix + h·w``."""
        return self.prefix + self.grid[0] * self.grid[1]

    def patches(self, values: torch.Tensor) -> torch.Tensor:
        """The patch tokens' entries of ``values`` ``[..., T]``: ``[..., h·w]``."""
        return values[..., self.prefix:]

    def to_image(self, token_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """A map over tokens as an image map, upsampled like a Grad-CAM map.

        Parameters
        ----------
        token_map
            ``[N, T]`` (prefix tokens dropped) or ``[N, h·w]``.
        size
            ``(H, W)`` of the input.

        Returns
        -------
        torch.Tensor
            ``[N, 1, H, W]``, bilinear (``align_corners=False``), values as in ``token_map``.
        """
        if token_map.shape[-1] == self.tokens:
            token_map = self.patches(token_map)
        h, w = self.grid
        grid = token_map.reshape(token_map.shape[0], 1, h, w)
        return F.interpolate(grid, size=tuple(size), mode="bilinear", align_corners=False)


def _qualified(module: torch.nn.Module) -> list[str]:
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(module).__mro__]


def model_prefix(model: torch.nn.Module) -> int | None:
    """Prefix tokens the model (or a module inside a wrapper) says it has; ``None`` when none says."""
    for module in model.modules():
        count = prefix_tokens(module)
        if count is not None:
            return count
        if any(name in CLASS_TOKEN_ONLY for name in _qualified(module)):
            return 1
    return None


def token_layout(model: torch.nn.Module, tokens: int, image: tuple[int, int]) -> TokenLayout:
    """The layout of ``tokens`` tokens of ``model`` for an input of size ``image``.

    Parameters
    ----------
    model
        The transformer: its prefix count comes from ``num_prefix_tokens`` (timm: class, distillation and
        register tokens), the family (torchvision and Hugging Face ViT: 1, Hugging Face DeiT: 2), or else
        the count (1, then 0) that leaves a grid with the input's aspect ratio.
    tokens
        ``T``, the length of the attention's rows.
    image
        ``(H, W)`` of the input.

    Raises
    ------
    ModelError
        No patch grid with the input's aspect ratio fits ``T`` minus the prefix.
    """
    prefix = model_prefix(model)
    probe = torch.empty((1, tokens, 1), device="meta")
    try:
        layout = feature_layout(probe, "attention", image=tuple(image), prefix=prefix)
    except OptionError:
        raise ModelError(f"{tokens} attention tokens of {type(model).__name__} do not lie on a patch grid of a "
                         f"{image[0]}x{image[1]} input (prefix tokens: {prefix if prefix is not None else '1 or 0'})") from None
    return TokenLayout(layout.prefix, layout.grid)
