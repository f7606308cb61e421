"""Multi-scale averaging: an attributor's maps at several input sizes, brought back to the input's size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from attribkit._core.interfaces import Attributor
from attribkit.attribution._averaging import Averaging
from attribkit.attribution._gradient import saliency_map
from attribkit.errors import OptionError


class MultiScale(Averaging):
    """The mean saliency map over input scales, as a one-channel attribution ``[N, (K,) 1, H, W]``.

    For each scale ``s`` the input is resized by ``s`` (bilinear), the wrapped attributor explains it (for
    the classes of the unscaled input), its map ``max_c |a|`` is resized back to the input's size
    (bilinear) and, when there is more than one scale, divided by its mean so every scale counts the same;
    the maps are then averaged.

    Unlike :class:`TenCrop` and :class:`SmoothGrad`, the maps are averaged, not the signed attributions:
    at different scales the same pixel is a different input, and the signs of its gradients do not line
    up, so a signed average would cancel. The result therefore has one channel (like Grad-CAM) and holds
    the map itself; ``saliency_map`` of it is the averaged map.

    Parameters
    ----------
    attributor
        Any attributor.
    scales
        Input sizes relative to the input, each ``> 0``.

    Example
    -------
    >>> multi = MultiScale(attribkit.create_attributor("saliency", model), scales=(0.75, 1.0, 1.5))  # doctest: +SKIP
    """

    def __init__(self, attributor: Attributor, *, scales: Sequence[float] = (0.75, 1.0, 1.25, 1.5)) -> None:
        super().__init__(attributor)
        scales = tuple(float(s) for s in scales)
        if not scales or any(not s > 0 for s in scales):
            raise OptionError(f"bad averaging option: scales must be one or more positive numbers; got {scales}")
        self.scales = scales

    def __repr__(self) -> str:
        return f"MultiScale({self.attributor!r}, scales={self.scales})"

    def _average(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        size = tuple(inputs.shape[-2:])
        total = None
        for s in self.scales:
            xs = inputs if s == 1.0 else F.interpolate(inputs, scale_factor=s, mode="bilinear",
                                                         align_corners=False)
            m = saliency_map(self._attribute(xs, index, extra))  # [N, K, h, w]
            if tuple(m.shape[-2:]) != size:
                m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
            if len(self.scales) > 1:
                m = m / m.mean(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
            total = m if total is None else total + m
        assert total is not None
        return (total / len(self.scales)).unsqueeze(2)
