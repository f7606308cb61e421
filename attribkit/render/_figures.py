"""Matplotlib-based rendering (Agg backend: no display is needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _as_numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _normalised(saliency: np.ndarray | torch.Tensor, percentile: float = 99.5) -> np.ndarray:
    """Scale to [0, 1], clipping at a high percentile so a few hot pixels do not wash out the map."""
    m = _as_numpy(saliency).astype(np.float64)
    if m.ndim != 2:
        raise ValueError(f"a saliency map must be [H, W]; got shape {m.shape}")
    m = m - m.min()
    top = np.percentile(m, percentile)
    top = top if top > 0 else m.max()
    return np.clip(m / top, 0, 1) if top > 0 else np.zeros_like(m)


def heatmap(saliency: np.ndarray | torch.Tensor, *, cmap: str = "inferno") -> np.ndarray:
    """``[H, W]`` map → ``[H, W, 3]`` uint8 RGB through a matplotlib colormap."""
    import matplotlib

    colours = matplotlib.colormaps[cmap](_normalised(saliency))[..., :3]
    return (colours * 255).round().astype(np.uint8)


def _resize_to(m: np.ndarray, height: int, width: int) -> np.ndarray:
    if m.shape == (height, width):
        return m
    img = Image.fromarray(m.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img)


def overlay(
    rgb: np.ndarray, saliency: np.ndarray | torch.Tensor, *, alpha: float = 0.6, cmap: str = "inferno"
) -> np.ndarray:
    """The photo darkened where the map is cold and coloured where it is hot, ``[H, W, 3]`` uint8."""
    height, width = rgb.shape[:2]
    m = _resize_to(_normalised(saliency).astype(np.float32), height, width)
    colour = heatmap(m, cmap=cmap).astype(np.float64)
    weight = alpha * m[..., None]
    out = rgb.astype(np.float64) * (1 - weight) + colour * weight
    return out.round().clip(0, 255).astype(np.uint8)


def to_uint8_rgb(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` or ``[H, W, 3]`` float in [0, 1] (or uint8) → ``[H, W, 3]`` uint8."""
    a = _as_numpy(image)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[2] != 3:
        a = a.transpose(1, 2, 0)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    return a


def save_panel(
    path: str | Path,
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    suptitle: str | None = None,
    columns: int | None = None,
    size: float = 3.2,
) -> Path:
    """Save images side by side (RGB ``[H, W, 3]`` or maps ``[H, W]``, shown with a colormap) as a PNG."""
    # A bare Figure (no pyplot) renders with Agg, touches no global backend state and needs no display.
    from matplotlib.figure import Figure

    if not images:
        raise ValueError("save_panel needs at least one image")
    columns = columns or len(images)
    rows = -(-len(images) // columns)
    fig = Figure(figsize=(size * columns, size * rows + (0.4 if suptitle else 0)))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, img in enumerate(images):
        a = _as_numpy(img)
        ax = axes.flat[i]
        if a.ndim == 2:
            ax.imshow(_normalised(a), cmap="inferno", vmin=0, vmax=1)
        else:
            ax.imshow(to_uint8_rgb(a))
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
