"""File names for what attribkit writes: class and photo names made safe for any file system."""

from __future__ import annotations

import re


def slug(text: str) -> str:
    """A file-name-safe version of a class or image name (runs of other characters become ``_``).

    Example
    -------
    >>> slug("tiger cat / 282")
    'tiger_cat_282'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"
