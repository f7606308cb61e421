"""Saliency maps as files: the values themselves (``.npy``) and a 16-bit greyscale PNG for image tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attribkit.errors import InputError


def save_map(stem: str | Path, photo_map: np.ndarray) -> tuple[Path, Path]:
    """Write ``<stem>.npy`` and ``<stem>.png`` for one map on the photo's pixels.

    Parameters
    ----------
    stem
        Path without suffix; folders are created.
    photo_map
        ``[H, W]`` map on the photo's pixels (:attr:`attribkit.SaliencyMaps.photo_maps`), NaN where the
        model's crop did not reach.

    Returns
    -------
    tuple of Path
        The ``.npy`` file (float32, the map as given, NaN kept) and the PNG (16-bit greyscale, the map
        divided by its largest finite value times 65535, NaN as 0; that largest value is stored in the
        PNG's text chunk ``attribkit:max`` so the PNG can be scaled back).

    Raises
    ------
    InputError
        ``photo_map`` is not 2-D (a ``ValueError`` too).
    """
    from PIL import Image, PngImagePlugin

    m = np.asarray(photo_map, dtype=np.float32)
    if m.ndim != 2:
        raise InputError(f"a map to save must be [H, W]; got shape {m.shape}")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    npy, png = stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + ".png")
    np.save(npy, m)
    finite = np.isfinite(m)
    top = float(m[finite].max()) if finite.any() else 0.0
    scaled = np.where(finite, m, 0.0) / top if top > 0 else np.zeros_like(m)
    grey = np.clip(np.round(scaled * 65535), 0, 65535).astype(np.uint16)
    info = PngImagePlugin.PngInfo()
    info.add_text("attribkit:max", repr(top))
    Image.fromarray(grey).save(png, pnginfo=info)
    return npy, png
