"""Image priors beyond the paper's L2 penalty, each a small function on a ``[K, 3, H, W]`` batch.

- :func:`jitter` — random translation before each forward pass (Mordvintsev et al. 2015, "Inceptionism";
  Olah et al. 2017, "Feature Visualization").
- :func:`gaussian_blur` — blur the image every few steps (Yosinski et al. 2015, "Understanding Neural
  Networks Through Deep Visualization", ICML DL workshop).
- :func:`total_variation` — the TV penalty of Mahendran & Vedaldi (2015), "Understanding Deep Image
  Representations by Inverting Them".
- :func:`clip_small_norm` and :func:`clip_small_contribution` — Yosinski et al.'s pixel clipping.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from attribkit.errors import OptionError


def jitter(images: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """Roll the batch by ``(dy, dx)`` pixels (wrapping around), differentiably.

    Rolling rather than cropping keeps the input size, so every step costs the same as the paper's step.
    """
    dy, dx = shift
    if dy == 0 and dx == 0:
        return images
    return images.roll(shifts=(dy, dx), dims=(-2, -1))


def gaussian_kernel(sigma: float, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius ``ceil(3 sigma)``."""
    if sigma <= 0:
        raise OptionError(f"blur sigma must be positive; got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel, reflecting at the border."""
    kernel = gaussian_kernel(sigma, dtype=images.dtype).to(images.device)
    r = kernel.numel() // 2
    c = images.shape[1]
    out = F.pad(images, (r, r, r, r), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def total_variation(images: torch.Tensor, *, beta: float = 2.0) -> torch.Tensor:
    """``sum_ij ((x_i,j+1 - x_ij)^2 + (x_i+1,j - x_ij)^2)^(beta/2)`` over the batch (a scalar).

    ``beta = 2`` (the default) is smooth; Mahendran & Vedaldi use ``beta`` of 1–2 to suppress spikes.
    """
    dx = images[..., :-1, 1:] - images[..., :-1, :-1]
    dy = images[..., 1:, :-1] - images[..., :-1, :-1]
    squared = dx.square() + dy.square()
    return squared.sum() if beta == 2.0 else (squared + 1e-12).pow(beta / 2).sum()


def _below_percentile(values: torch.Tensor, percentile: float) -> torch.Tensor:
    """``[K, H, W]`` mask of the values below each image's ``percentile`` (0–100)."""
    flat = values.flatten(1)
    threshold = torch.quantile(flat, percentile / 100.0, dim=1, keepdim=True)
    return (flat < threshold).view_as(values)


def clip_small_norm(images: torch.Tensor, percentile: float) -> torch.Tensor:
    """Set to zero (the mean colour) the pixels whose colour-vector norm is below ``percentile``.

    Yosinski et al. (2015): only a few strong pixels carry a class; the rest are pushed back to the mean.
    """
    return images.masked_fill(_below_percentile(images.norm(dim=1), percentile).unsqueeze(1), 0.0)


def clip_small_contribution(images: torch.Tensor, gradient: torch.Tensor, percentile: float) -> torch.Tensor:
    """Zero the pixels whose contribution ``|sum_c x * dS/dx|`` is below ``percentile``.

    Yosinski et al. (2015): a linear estimate of how much the class score would drop if the pixel were
    set to the mean; pixels that barely help are removed.
    """
    contribution = (images * gradient).sum(dim=1).abs()
    return images.masked_fill(_below_percentile(contribution, percentile).unsqueeze(1), 0.0)
