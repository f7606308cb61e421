"""Grad-CAM on layers that are not ``[N, C, H, W]``: transformer tokens and channels-last feature maps.

Captum's ``LayerGradCam`` averages the gradient over every axis after the second and sums over the
second, which is right only for ``[N, C, H, W]``. A ViT block returns tokens ``[N, P + h*w, D]`` (``P``
class/distillation tokens first), a Swin block or a ConvNeXt block's norm a channels-last map
``[N, h, w, D]``. As pytorch-grad-cam's ``reshape_transform`` does, the layer's output is passed through
an identity *proxy* module as ``[N, D, h, w]`` (:func:`attribkit.attribution.feature_layout`; prefix
tokens dropped from the map, kept for the model); Captum explains the proxy, so its averaging is over
the spatial grid, as Grad-CAM defines it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from attribkit.attribution import feature_layout


@contextmanager
def spatial_proxy(layer: torch.nn.Module, proxy: torch.nn.Module, image: tuple[int, int], name: str,
                  prefix: int | None = None) -> Iterator[None]:
    """Route ``layer``'s output through ``proxy`` as ``[N, D, h, w]`` while the block runs.

    The hook is removed on exit, also after an exception.
    """

    def hook(module: torch.nn.Module, args: Any, out: Any) -> Any:
        layout = feature_layout(out, name, layer=module, image=image, prefix=prefix)
        return layout.from_spatial(proxy(layout.to_spatial(out)), out)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
