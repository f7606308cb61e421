"""Grad-CAM on layers that are not ``[N, C, H, W]``: transformer tokens and channels-last feature maps.

Captum's ``LayerGradCam`` averages the gradient over every axis after the second and sums over the
second, which is right only for ``[N, C, H, W]``. A ViT block returns tokens ``[N, P + h*w, D]`` (``P``
class/distillation/register tokens first), a Swin block or a ConvNeXt block's norm a channels-last map
``[N, h, w, D]``. As pytorch-grad-cam's ``reshape_transform`` does, the layer's output is passed through
an identity *proxy* module as ``[N, D, h, w]`` (prefix tokens dropped from the map, kept for the model);
Captum explains the proxy, so its averaging is over the spatial grid, as Grad-CAM defines it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from attribkit import ModelError


@dataclass(frozen=True)
class Layout:
    """How to turn one layer's output into ``[N, D, h, w]`` and back."""

    kind: str  # "nchw" | "nhwc" | "tokens"
    prefix: int = 0
    grid: tuple[int, int] = (0, 0)

    def to_spatial(self, out: torch.Tensor) -> torch.Tensor:
        if self.kind == "nchw":
            return out
        if self.kind == "nhwc":
            return out.permute(0, 3, 1, 2)
        h, w = self.grid
        return out[:, self.prefix:].reshape(out.shape[0], h, w, out.shape[-1]).permute(0, 3, 1, 2)

    def from_spatial(self, spatial: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.kind == "nchw":
            return spatial
        if self.kind == "nhwc":
            return spatial.permute(0, 2, 3, 1)
        tokens = spatial.permute(0, 2, 3, 1).reshape(out.shape[0], -1, out.shape[-1])
        return torch.cat([out[:, : self.prefix], tokens], dim=1)


def layout_of(out: Any, layer: torch.nn.Module, image: tuple[int, int], name: str) -> Layout:
    """The layout of ``out`` (a layer's output for an input image of ``image = (H, W)`` pixels).

    Raises :class:`~attribkit.ModelError` naming the layer when no spatial grid can be read from it.
    """
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"Grad-CAM layer {name!r} returns {type(out).__name__}, not a tensor; pass layer= "
                         "naming a module that returns a feature map or tokens")
    shape = tuple(out.shape)
    if out.ndim == 4:
        channels_last_norm = isinstance(layer, torch.nn.LayerNorm) and layer.normalized_shape == shape[-1:]
        if channels_last_norm or (_fits(shape[1:3], image) and not _fits(shape[2:4], image)):
            return Layout("nhwc")
        return Layout("nchw")
    if out.ndim == 3:
        tokens = shape[1]
        for prefix in range(0, 9):
            grid = _grid(tokens - prefix, image)
            if grid is not None:
                return Layout("tokens", prefix, grid)
    raise ModelError(f"Grad-CAM layer {name!r} returns {list(shape)}, which is neither a feature map "
                     "[N, C, H, W] / [N, H, W, C] nor tokens [N, prefix + h*w, D] on the input's grid; pass "
                     "layer= naming another module")


def _fits(hw: tuple[int, ...], image: tuple[int, int]) -> bool:
    h, w = hw
    return h > 0 and w > 0 and h * image[1] == w * image[0]


def _grid(count: int, image: tuple[int, int]) -> tuple[int, int] | None:
    """``(h, w)`` with ``h * w = count`` and ``h / w = H / W`` (a patch grid of the input), if any."""
    if count <= 0:
        return None
    height, width = image
    w = math.isqrt(round(count * width / height)) if height else 0
    for candidate in (w - 1, w, w + 1):
        if candidate > 0 and count % candidate == 0 and _fits((count // candidate, candidate), image):
            return count // candidate, candidate
    return None


@contextmanager
def spatial_proxy(layer: torch.nn.Module, proxy: torch.nn.Module, image: tuple[int, int],
                  name: str) -> Iterator[Callable[[], Layout | None]]:
    """Route ``layer``'s output through ``proxy`` as ``[N, D, h, w]`` while the block runs.

    Yields a function returning the layout seen (``None`` before the first forward). The hook is removed
    on exit, also after an exception.
    """
    seen: list[Layout] = []

    def hook(module: torch.nn.Module, args: Any, out: Any) -> Any:
        layout = layout_of(out, module, image, name)
        if not seen:
            seen.append(layout)
        return layout.from_spatial(proxy(layout.to_spatial(out)), out)

    handle = layer.register_forward_hook(hook)
    try:
        yield lambda: seen[0] if seen else None
    finally:
        handle.remove()
