"""Matplotlib-based rendering (Agg backend: no display is needed)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from attribkit.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _as_numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _normalised(saliency: np.ndarray | torch.Tensor, percentile: float = 99.5) -> np.ndarray:
    """Scale to [0, 1], clipping at a high percentile so a few hot pixels do not wash out the map."""
    m = _as_numpy(saliency).astype(np.float64)
    if m.ndim != 2:
        raise InputError(f"a saliency map must be [H, W]; got shape {m.shape}")
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


#: σ of the display blur of an overlaid map, as a fraction of its side: a speckled gradient map reads as
#: regions once blurred (the CLI's panels and a study's gallery; the map itself is unchanged).
OVERLAY_BLUR = 0.02


def overlay(
    rgb: np.ndarray,
    saliency: np.ndarray | torch.Tensor,
    *,
    alpha: float = 0.6,
    cmap: str = "inferno",
    blur: float = 0.0,
) -> np.ndarray:
    """The photo darkened where the map is cold and coloured where it is hot, ``[H, W, 3]`` uint8.

    ``blur`` is a Gaussian blur of the map before it is laid over the photo, its σ a fraction of the
    map's longer side (0: none): a pixel-level speckled gradient map reads as regions only once blurred
    (display only; the map itself is unchanged).
    """
    height, width = rgb.shape[:2]
    m = _normalised(saliency).astype(np.float32)
    if blur > 0:
        import cv2

        m = _normalised(np.asarray(cv2.GaussianBlur(m, (0, 0), sigmaX=blur * max(m.shape)))).astype(np.float32)
    m = _resize_to(m, height, width)
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


#: Below this softmax probability a class is marked "(low)" and its titles are greyed: the model hardly
#: sees the class, so its map explains a score the model does not act on.
LOW_PROBABILITY = 0.05

#: The colour of greyed titles (a class of low probability).
MUTED = "#8a8a8a"


def is_low(p: float) -> bool:
    """Whether a probability, as shown with two decimals, is below :data:`LOW_PROBABILITY` (so a title
    reading ``p=0.05`` is never greyed)."""
    return round(float(p), 2) < LOW_PROBABILITY


def probability_label(p: float) -> str:
    """``"p=0.38"``, or ``"p=0.00 (low)"`` below :data:`LOW_PROBABILITY` (see :func:`is_low`)."""
    return f"p={p:.2f}" + (" (low)" if is_low(p) else "")


#: A legend entry: the text and its RGB colour (0–255), as :func:`attribkit.render.box_legend` gives.
LegendEntry = tuple[str, tuple[int, int, int]]


def save_panel(
    path: str | Path,
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    suptitle: str | None = None,
    columns: int | None = None,
    size: float = 3.2,
    muted: bool | Sequence[bool] = False,
    caption: str | None = None,
    legends: Sequence[Sequence[LegendEntry] | None] | None = None,
) -> Path:
    """Save images side by side (RGB ``[H, W, 3]`` or maps ``[H, W]``, shown with a colormap) as a PNG.

    Parameters
    ----------
    path
        The PNG to write (folders are created).
    images
        RGB images or 2-D maps (a map is scaled to its 99.5th percentile and shown with ``inferno``).
    titles
        One per image (several lines allowed: the layout makes room).
    suptitle
        A title over the whole figure.
    columns
        Images per row (default: all in one row).
    size
        Width of one image in inches (at 100 dpi); the height follows the tallest image's aspect.
    muted
        Grey the titles: ``True`` for all (and the suptitle), or one flag per image.
    caption
        One line under the figure, e.g. a caveat about what a method shows.
    legends
        Per image, entries ``(text, RGB colour)`` listed under it, one per line, so that labels never
        overprint each other or the photo (see :func:`attribkit.render.box_legend`).
    """
    fig = panel_figure(images, titles, suptitle=suptitle, columns=columns, size=size, muted=muted,
                       caption=caption, legends=legends)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def panel_figure(
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    suptitle: str | None = None,
    columns: int | None = None,
    size: float = 3.2,
    muted: bool | Sequence[bool] = False,
    caption: str | None = None,
    legends: Sequence[Sequence[LegendEntry] | None] | None = None,
) -> Figure:
    """The matplotlib figure :func:`save_panel` saves (same parameters).

    Every text is plain text: a ``$`` in a photo or class name (``$\\cmd$``) is shown as it is, never
    parsed as mathematics (which would fail on an unknown command and stop a batch)."""
    import matplotlib

    # Texts take these settings when they are made (and keep them when drawn later).
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _panel_figure(images, titles, suptitle=suptitle, columns=columns, size=size, muted=muted,
                             caption=caption, legends=legends)


def _panel_figure(
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None,
    *,
    suptitle: str | None,
    columns: int | None,
    size: float,
    muted: bool | Sequence[bool],
    caption: str | None,
    legends: Sequence[Sequence[LegendEntry] | None] | None,
) -> Figure:
    from matplotlib.patches import Patch

    if not images:
        raise InputError("save_panel needs at least one image")
    arrays = [_as_numpy(img) for img in images]
    columns = columns or len(arrays)
    rows = -(-len(arrays) // columns)
    flags = [muted] * len(arrays) if isinstance(muted, bool) else list(muted)
    aspect = max(_height_over_width(a) for a in arrays)
    lines = max((t.count("\n") + 1 for t in titles or ()), default=0)
    legend_lines = max((len(e) for e in legends or () if e), default=0)
    # Room for each row's titles and legends, the suptitle and the caption, in inches.
    row_height = size * aspect + 0.18 * lines + 0.2 * legend_lines + 0.1
    # The caption is wrapped to the figure's width: about 16 characters per inch at its 8.5 pt size and
    # 100 dpi, 14.8 at 72 dpi (text hinted to whole pixels is wider), so 14 leaves a margin at either.
    caption_lines = textwrap.wrap(caption, max(20, int(14 * size * columns))) if caption else []
    height = rows * row_height + (0.45 if suptitle else 0) + 0.2 * len(caption_lines) + (0.15 if caption else 0)
    # A bare Figure (no pyplot) renders with Agg, touches no global backend state and needs no display.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size * columns, height), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, a in enumerate(arrays):
        ax = axes.flat[i]
        if a.ndim == 2:
            ax.imshow(_normalised(a), cmap="inferno", vmin=0, vmax=1)
        else:
            ax.imshow(to_uint8_rgb(a))
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=9, color=MUTED if i < len(flags) and flags[i] else "black")
        entries = legends[i] if legends is not None and i < len(legends) else None
        if entries:
            handles = [Patch(facecolor=(c[0] / 255, c[1] / 255, c[2] / 255), edgecolor="none", label=t) for t, c in entries]
            legend = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8,
                               frameon=False, handlelength=1.2, borderaxespad=0.3)
            for text, (label, _) in zip(legend.get_texts(), entries):
                if label.endswith("(low)"):
                    text.set_color(MUTED)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11, color=MUTED if muted is True else "black")
    if caption:
        fig.supxlabel("\n".join(caption_lines), fontsize=8.5, color="#444444")
    return fig


def _height_over_width(a: np.ndarray) -> float:
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[2] != 3:
        return a.shape[1] / a.shape[2]
    return a.shape[0] / a.shape[1]
