"""Multi-scale averaging: an attributor's maps at several input sizes, brought back to the input's size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from attribkit._core.interfaces import Attributor, TargetType
from attribkit._core.scored import Scored, attribute_scored
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
        return self._mean({s: self._map(inputs, s, index, extra) for s in self.scales})

    def _average_scored(
        self, inputs: torch.Tensor, target: TargetType, top_k: int | None, extra: tuple[Any, ...]
    ) -> Scored:
        if 1.0 not in self.scales:
            return super()._average_scored(inputs, target, top_k, extra)
        # Scale 1 is the clean input: the wrapped attributor's own forward there gives the scores and
        # chooses the classes, and the other scales are explained for those (no extra forward pass).
        first = attribute_scored(self.attributor, inputs, target, top_k=top_k,
                                 additional_forward_args=extra or None)
        index = first.targets.index
        maps = {s: self._map(inputs, s, index, extra, done=first.attributions if s == 1.0 else None)
                for s in self.scales}
        return Scored(self._mean(maps), first.scores, first.targets)

    def _map(self, inputs: torch.Tensor, scale: float, index: torch.Tensor, extra: tuple[Any, ...],
             done: torch.Tensor | None = None) -> torch.Tensor:
        """The ``[N, K, H, W]`` map at one scale, on the input's grid (``done``: its attribution, if made)."""
        size = tuple(inputs.shape[-2:])
        if done is None:
            xs = inputs if scale == 1.0 else F.interpolate(inputs, scale_factor=scale, mode="bilinear",
                                                             align_corners=False)
            done = self._attribute(xs, index, extra)
        m = saliency_map(done)  # [N, K, h, w]
        if tuple(m.shape[-2:]) != size:
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        if len(self.scales) > 1:
            m = m / m.mean(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
        return m

    def _mean(self, maps: dict[float, torch.Tensor]) -> torch.Tensor:
        total = None
        for s in self.scales:  # the order of the scales, whichever was computed first
            total = maps[s] if total is None else total + maps[s]
        assert total is not None
        return (total / len(self.scales)).unsqueeze(2)
