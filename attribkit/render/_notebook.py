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

import numpy as np

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


def tiles_png(tiles: Sequence[Tile], *, title: str | None = None, note: str | None = None) -> bytes:
    """The tiles side by side with their captions (and legends) as one small PNG, through
    :func:`attribkit.render.save_panel`'s figure (plain text: a ``$`` in a name is not mathematics)."""
    from attribkit.render._figures import panel_figure

    tiles = list(tiles)
    legends = [list(t.legend) or None for t in tiles]
    fig = panel_figure([t.rgb for t in tiles], [t.caption for t in tiles], suptitle=title, size=TILE / DPI,
                       muted=[t.muted for t in tiles], caption=note,
                       legends=legends if any(legends) else None)
    return png_bytes(figure_rgb(fig))


def _swatch(colour: tuple[int, int, int]) -> str:
    r, g, b = (int(c) for c in colour)
    return (f"<span style='display:inline-block;width:.8em;height:.8em;margin-right:.3em;"
            f"background:rgb({r},{g},{b})'></span>")


def tiles_html(tiles: Sequence[Tile], *, title: str | None = None, note: str | None = None) -> str:
    """The tiles as an HTML block: each an inline PNG with its caption (and legend) as escaped text."""
    parts = ["<div class='attribkit-result' style='font-family:sans-serif;font-size:12px'>"]
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


def html_table(head: Sequence[str], rows: Sequence[Sequence[object]], *, titles: Sequence[str] = ()) -> str:
    """A small HTML table, every cell and header escaped; ``titles`` are the headers' hover texts."""
    cell = "border:1px solid #ccc;padding:2px 6px;text-align:right"
    header = "".join(
        f"<th style='{cell};background:#eee' title='{html.escape(titles[i] if i < len(titles) else '', quote=True)}'>"
        f"{html.escape(str(h))}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td style='{cell}'>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table style='border-collapse:collapse;font-size:12px'><tr>{header}</tr>{body}</table>"
