"""Data: real sample photos that ship inside installed packages (no download)."""

from attribkit.data._samples import SAMPLE_PHOTOS, sample_photo

__all__ = ["SAMPLE_PHOTOS", "sample_photo"]
