"""Small copies of each photo and of each map on it, for the study explorer (``explorer.html``).

The explorer redraws a map's threshold box in the browser as its slider moves, so it needs the map's
values, not a picture of them: each ``map`` record carries its map on the photo shrunk to
:data:`MAP_SIDE` pixels on the longer side and quantised to a grayscale PNG (``1..255`` from the map's
minimum to its maximum, ``0`` where the model's crop did not reach), base64-encoded. A record is the unit
a study keeps, resumes and merges, so the thumbnail is kept, resumed and merged with it (about 1 KB).

The photo itself is only shown, so it is a small JPEG file beside the page
(``explorer/<photo>.jpg``, :func:`photo_thumbnail_path`), written atomically.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from attribkit.render import file_name
from attribkit.study._atomic import replacing

#: The longer side of a map thumbnail, pixels: a 48x36 map draws a threshold box to within 2% of the photo.
MAP_SIDE = 48
#: The longer side of a photo thumbnail, pixels.
PHOTO_SIDE = 192
#: The folder of the photo thumbnails, beside ``explorer.html``.
THUMBNAIL_DIR = "explorer"


def _shape(height: int, width: int, side: int) -> tuple[int, int]:
    """(width, height) of a thumbnail whose longer side is ``side`` (never upscaled, at least 1 pixel)."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def map_thumbnail(photo_map: np.ndarray) -> dict[str, object]:
    """``{"png": base64 PNG, "photo": [width, height]}``: ``photo_map`` (``[H, W]`` on the photo, NaN where
    the crop did not reach) box-averaged to :data:`MAP_SIDE` on the longer side, ``1 + 254 * (m - min) /
    (max - min)`` rounded (``1`` everywhere for a flat map), ``0`` where NaN."""
    m = np.asarray(photo_map, dtype=np.float32)
    height, width = m.shape
    size = _shape(height, width, MAP_SIDE)
    known = np.isfinite(m)
    small_known = np.asarray(Image.fromarray(known.astype(np.float32)).resize(size, Image.BOX)) > 0.5
    if known.any():
        filled = np.where(known, m, np.nanmin(np.where(known, m, np.inf)))
        small = np.asarray(Image.fromarray(filled.astype(np.float32)).resize(size, Image.BOX))
        lo, hi = float(small[small_known].min()) if small_known.any() else 0.0, float(small.max())
        scaled = (small - lo) / (hi - lo) if hi > lo else np.zeros_like(small)
        values = 1 + np.rint(254 * np.clip(scaled, 0.0, 1.0))
    else:
        values = np.ones(size[::-1], dtype=np.float32)
    values = np.where(small_known, values, 0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG", optimize=True)
    return {"png": base64.b64encode(buffer.getvalue()).decode("ascii"), "photo": [int(width), int(height)]}


def photo_thumbnail_path(out: Path, image: str) -> Path:
    """``explorer/<photo>.jpg`` under a study's folder (distinct for distinct names: :func:`file_name`)."""
    return Path(out) / THUMBNAIL_DIR / f"{file_name(image)}.jpg"


def save_photo_thumbnail(path: Path, rgb: np.ndarray) -> None:
    """The photo (``[H, W, 3]`` uint8) shrunk to :data:`PHOTO_SIDE` on the longer side, as a JPEG."""
    img = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    img = img.resize(_shape(img.height, img.width, PHOTO_SIDE), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        img.save(temporary, format="JPEG", quality=80)
