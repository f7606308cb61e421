"""The paper's 10 crops: four corners and the centre, each also mirrored, and their way back."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TenCrop:
    """Crops of ``fraction`` of the input's height and width, batched crop-major (``[10 * N, ...]``)."""

    fraction: float = 224 / 256
    count: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"crop_fraction must be in (0, 1]; got {self.fraction}")

    def _windows(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        h = max(1, round(height * self.fraction))
        w = max(1, round(width * self.fraction))
        top, left = (height - h) // 2, (width - w) // 2
        corners = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w), (top, left)]
        return [(y, x, h, w) for y, x in corners]

    def crops(self, images: torch.Tensor) -> torch.Tensor:
        windows = self._windows(*images.shape[-2:])
        plain = [images[..., y : y + h, x : x + w] for y, x, h, w in windows]
        return torch.cat(plain + [c.flip(-1) for c in plain], dim=0)

    def merge(self, grads: torch.Tensor, n: int, size: torch.Size) -> torch.Tensor:
        """Mean over the crops covering each pixel of ``[10 * N, K, C, h, w]`` → ``[N, K, C, H, W]``."""
        height, width = int(size[0]), int(size[1])
        windows = self._windows(height, width)
        per_crop = grads.reshape(self.count, n, *grads.shape[1:])
        total = grads.new_zeros((n, *grads.shape[1:-2], height, width))
        cover = grads.new_zeros((height, width))
        for i, (y, x, h, w) in enumerate(windows):
            mirrored = per_crop[i + len(windows)].flip(-1)
            total[..., y : y + h, x : x + w] += per_crop[i] + mirrored
            cover[y : y + h, x : x + w] += 2
        return total / cover.clamp(min=1)
