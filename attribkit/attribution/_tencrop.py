"""The paper's 10 crops (Simonyan et al. 2013, section 3, after Krizhevsky et al. 2012): four corners and
the centre, each also mirrored, around any attributor, and the way back onto the input's pixels."""

from __future__ import annotations

from typing import Any

import torch

from attribkit._core.interfaces import Attributor
from attribkit.attribution._averaging import Averaging, AveragingOptions, repeat_args
from attribkit.errors import OptionError

#: Crops per image: five places, each also mirrored.
COUNT = 10


class TenCrop(Averaging):
    """The mean attribution over the paper's 10 crops and flips, on the input's own pixels.

    Crops are ``crop_fraction`` of the input's height and width, at the four corners and the centre, each
    also mirrored left-right; all ``10 N`` crops go to the wrapped attributor as one batch (crop-major:
    crop ``i`` of image ``n`` is row ``i N + n``), with the classes resolved on the whole image (the paper
    explains the class predicted for the image). Each crop's attribution is mirrored back, placed where
    the crop came from, and every pixel is divided by how many crops covered it, so the result has the
    input's shape. The signed attributions are averaged; take :func:`~attribkit.saliency_map` of the
    average for the display map.

    Parameters
    ----------
    attributor
        Any attributor (Grad-CAM's one channel is fine).
    crop_fraction
        Side of a crop relative to the input, in ``(0, 1]`` (224/256: the paper's crops of its 256 images).

    Example
    -------
    >>> ten = TenCrop(attribkit.create_attributor("deconvnet", model))   # doctest: +SKIP
    >>> ten.attribute(x, top_k=5).shape                                   # doctest: +SKIP
    torch.Size([1, 5, 3, 224, 224])
    """

    def __init__(self, attributor: Attributor, *, crop_fraction: float = AveragingOptions.crop_fraction) -> None:
        super().__init__(attributor)
        if not 0.0 < crop_fraction <= 1.0:
            raise OptionError(f"bad averaging option: crop_fraction must be in (0, 1]; got {crop_fraction}")
        self.crop_fraction = crop_fraction

    def __repr__(self) -> str:
        return f"TenCrop({self.attributor!r}, crop_fraction={self.crop_fraction:g})"

    def _average(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        crops = self.crops(inputs)
        grads = self._attribute(crops, index.repeat(COUNT, 1), repeat_args(extra, COUNT))
        return self.merge(grads, inputs.shape[0], inputs.shape[-2:])

    def windows(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """``(top, left, height, width)`` of the five crop places: corners clockwise from the top left,
        then the centre."""
        h = max(1, round(height * self.crop_fraction))
        w = max(1, round(width * self.crop_fraction))
        top, left = (height - h) // 2, (width - w) // 2
        corners = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w), (top, left)]
        return [(y, x, h, w) for y, x in corners]

    def crops(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` → ``[10 N, C, h, w]``: the five places, then their mirror images."""
        windows = self.windows(*images.shape[-2:])
        plain = [images[..., y : y + h, x : x + w] for y, x, h, w in windows]
        return torch.cat(plain + [c.flip(-1) for c in plain], dim=0)

    def merge(self, grads: torch.Tensor, n: int, size: torch.Size) -> torch.Tensor:
        """Mean over the crops covering each pixel of ``[10 N, K, C, h, w]`` → ``[N, K, C, H, W]``."""
        height, width = int(size[0]), int(size[1])
        windows = self.windows(height, width)
        per_crop = grads.reshape(COUNT, n, *grads.shape[1:])
        total = grads.new_zeros((n, *grads.shape[1:-2], height, width))
        cover = grads.new_zeros((height, width))
        for i, (y, x, h, w) in enumerate(windows):
            mirrored = per_crop[i + len(windows)].flip(-1)
            total[..., y : y + h, x : x + w] += per_crop[i] + mirrored
            cover[y : y + h, x : x + w] += 2
        return total / cover.clamp(min=1)
