"""Results as pictures in a notebook: the ``_repr_png_`` and ``_repr_html_`` of :class:`~attribkit.SaliencyMaps`,
:class:`~attribkit.localisation.LocalisedClasses` and a study's results are built here.

A notebook keeps every picture it shows (base64 in the ``.ipynb``, once per format: HTML and PNG), so
pictures are small: each tile's longer side is at most :data:`TILE` pixels, at most :data:`MAX_TILES`
tiles; a PNG is stored with a palette of :data:`COLOURS` colours and the HTML's tiles as JPEG (a speckled
gradient map is noise to a PNG coder: about 25 kB as a 180-pixel palette PNG, 10 kB as a JPEG).
HTML escapes every text it shows: photo, class and setting names come from users.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: A tile's longer side in pixels (a photo, a map): big enough to read a map, small enough that a
#: notebook showing dozens of results stays a few megabytes.
TILE = 180
#: At most this many tiles in one picture (the photo and the first classes); the rest are counted.
MAX_TILES = 6
#: Dots per inch of a figure rendered for a notebook (matplotlib's sizes are in inches): 72, so that the
#: panel's 9-point titles stay in proportion to a :data:`TILE`-pixel tile.
DPI = 72
#: Colours of a notebook PNG's palette (octree-chosen: a legend's small swatches keep their colours,
#: which median cut merges away; 64 bands a photo's skin tones visibly).
COLOURS = 128
#: JPEG quality of the HTML's tiles.
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Tile:
    """One picture of a result and its caption; ``legend`` lists ``(text, RGB colour)`` entries under it."""

    rgb: np.ndarray
    caption: str
    muted: bool = False
    legend: Sequence[tuple[str, tuple[int, int, int]]] = ()


def small(rgb: np.ndarray, side: int = TILE) -> np.ndarray:
    """``[H, W, 3]`` uint8 shrunk (area-averaged) so that its longer side is at most ``side``."""
    import cv2

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    scale = side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An ``[H, W, 3]`` (or RGBA) uint8 picture as PNG bytes with a palette of :data:`COLOURS` colours."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
    buffer = io.BytesIO()
    img.quantize(COLOURS, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    """An ``[H, W, 3]`` uint8 picture as JPEG bytes (quality :data:`JPEG_QUALITY`)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)).save(buffer, format="JPEG",
                                                                              quality=JPEG_QUALITY)
    return buffer.getvalue()


def figure_rgb(fig: object) -> np.ndarray:
    """A matplotlib figure drawn at :data:`DPI` as ``[H, W, 3]`` uint8."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")  # type: ignore[attr-defined]
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        return np.asarray(img.convert("RGB"))


def data_uri(data: bytes, kind: str = "png") -> str:
    """``data:image/<kind>;base64,...``: a picture inside an HTML attribute (base64 needs no escaping)."""
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def tiles_png(tiles: Sequence[Tile], *, title: str | None = None, note: str | None = None,
              columns: int | None = None) -> bytes:
    """The tiles side by side with their captions (and legends) as one small PNG, through
    :func:`attribkit.render.save_panel`'s figure (plain text: a ``$`` in a name is not mathematics)."""
    from attribkit.render._figures import panel_figure

    tiles = list(tiles)
    legends = [list(t.legend) or None for t in tiles]
    fig = panel_figure([t.rgb for t in tiles], [t.caption for t in tiles], suptitle=title, size=TILE / DPI,
                       columns=columns,
                       muted=[t.muted for t in tiles], caption=note,
                       legends=legends if any(legends) else None)
    return png_bytes(figure_rgb(fig))


def _swatch(colour: tuple[int, int, int]) -> str:
    r, g, b = (int(c) for c in colour)
    return (f"<span style='display:inline-block;width:.8em;height:.8em;margin-right:.3em;"
            f"background:rgb({r},{g},{b})'></span>")


def tiles_html(tiles: Sequence[Tile], *, title: str | None = None, note: str | None = None) -> str:
    """The tiles as an HTML block: each an inline PNG with its caption (and legend) as escaped text."""
    parts = [f"{STYLE}<div class='attribkit-result'>"]
    if title:
        parts.append(f"<div style='font-weight:bold;margin-bottom:4px'>{html.escape(title)}</div>")
    parts.append("<div style='display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start'>")
    for t in tiles:
        colour = "#8a8a8a" if t.muted else "inherit"
        legend = "".join(f"<div>{_swatch(c)}{html.escape(text)}</div>" for text, c in t.legend)
        parts.append(
            f"<figure style='margin:0;max-width:{max(TILE, t.rgb.shape[1])}px'>"
            f"<img src='{data_uri(jpeg_bytes(t.rgb), 'jpeg')}' alt='{html.escape(t.caption, quote=True)}'>"
            f"<figcaption style='color:{colour}'>{html.escape(t.caption)}</figcaption>{legend}</figure>"
        )
    parts.append("</div>")
    if note:
        parts.append(f"<div style='color:#444;margin-top:4px'>{html.escape(note)}</div>")
    parts.append("</div>")
    return "".join(parts)


def finite(m: np.ndarray) -> np.ndarray:
    """A map with NaN (outside the model's crop) set to its smallest value, for display."""
    m = np.asarray(m, dtype=np.float32)
    return np.nan_to_num(m, nan=float(np.nanmin(m)) if np.isfinite(m).any() else 0.0)


#: The one style block of a result's HTML, scoped to its class (a notebook page shows many results).
STYLE = ("<style>.attribkit-result{font-family:sans-serif;font-size:12px}"
         ".attribkit-result .scroll{overflow-x:auto;max-width:100%}"
         ".attribkit-result table{border-collapse:collapse;margin:4px 0;font-size:inherit}"
         ".attribkit-result td,.attribkit-result th{border:1px solid #ccc;padding:2px 6px;text-align:right;"
         "white-space:nowrap}"
         ".attribkit-result th{background:#eee}</style>")


def html_table(head: Sequence[str], rows: Sequence[Sequence[object]], *, titles: Sequence[str] = ()) -> str:
    """A small HTML table (styled by :data:`STYLE`), every cell and header escaped; ``titles`` are the
    headers' hover texts."""
    header = "".join(f"<th title='{html.escape(titles[i] if i < len(titles) else '', quote=True)}'>"
                     f"{html.escape(str(h))}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    # A wide table (a study's 15 columns with intervals) scrolls sideways instead of wrapping its cells.
    return f"<div class='scroll'><table><tr>{header}</tr>{body}</table></div>"


class SideBySide:
    """Pictures side by side that a notebook shows (``_repr_png_``, ``_repr_html_``), small: each at most
    180 pixels on its longer side, six to a row. Made by :func:`~attribkit.render.side_by_side`."""

    def __init__(self, tiles: Sequence[Tile], note: str | None = None) -> None:
        self.tiles = list(tiles)
        self.note = note

    def __repr__(self) -> str:
        return f"SideBySide({[t.caption for t in self.tiles]})"

    def _repr_png_(self) -> bytes:
        return tiles_png(self.tiles, note=self.note, columns=min(len(self.tiles), MAX_TILES))

    def _repr_html_(self) -> str:
        return tiles_html(self.tiles, note=self.note)


def side_by_side(
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    note: str | None = None,
) -> SideBySide:
    """Photos and maps side by side, as a notebook picture (the notebook counterpart of
    :func:`~attribkit.render.save_panel`, small enough that a notebook showing dozens stays light).

    Parameters
    ----------
    images
        ``[H, W, 3]`` RGB (uint8, or float in [0, 1]; ``[3, H, W]`` too) or ``[H, W]`` maps, shown with
        :func:`~attribkit.render.heatmap` (scaled to their 99.5th percentile).
    titles
        One per picture (escaped in HTML: names may come from users).
    note
        One line under the pictures.

    Returns
    -------
    SideBySide
        Displayed by a notebook as the pictures; ``repr`` lists the titles.

    Raises
    ------
    InputError
        No pictures, more titles than pictures, or a picture that is neither ``[H, W]`` nor RGB.

    Example
    -------
    >>> side_by_side([image.input_rgb, found.maps[0]], ["photo", "map"])   # doctest: +SKIP
    """
    from attribkit.errors import InputError
    from attribkit.render._figures import _as_numpy, heatmap, to_uint8_rgb

    arrays = [_as_numpy(a) for a in images]
    titles = list(titles or [""] * len(arrays))
    if not arrays or len(titles) > len(arrays):
        raise InputError(f"side_by_side needs at least one picture and at most one title each; got "
                         f"{len(arrays)} pictures, {len(titles)} titles")
    tiles = []
    for a, title in zip(arrays, titles + [""] * (len(arrays) - len(titles))):
        if a.ndim == 2:
            rgb = heatmap(np.nan_to_num(a.astype(np.float32), nan=float(np.nanmin(a)) if np.isfinite(a).any() else 0.0))
        elif a.ndim == 3 and 3 in (a.shape[0], a.shape[2]):
            rgb = to_uint8_rgb(a)
        else:
            raise InputError(f"side_by_side shows [H, W] maps and RGB pictures; got shape {a.shape}")
        tiles.append(Tile(small(rgb), title))
    return SideBySide(tiles, note)
