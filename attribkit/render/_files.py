"""File names for what attribkit writes: class and photo names made safe for any file system."""

from __future__ import annotations

import hashlib
import re

#: Longest name :func:`file_name` returns (file systems allow 255 bytes; prefixes and suffixes are added).
MAX_NAME = 120


def slug(text: str) -> str:
    """A file-name-safe version of a class or image name (runs of other characters become ``_``).

    Two names can give the same slug (``"a b"`` and ``"a_b"``); :func:`file_name` never does.

    Example
    -------
    >>> slug("tiger cat / 282")
    'tiger_cat_282'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def file_name(text: str) -> str:
    """A file-name-safe name that is distinct for distinct texts: the text itself when it is already safe
    (letters, digits, ``.``, ``-``, single ``_``; no leading ``.``; at most :data:`MAX_NAME` characters), else its
    :func:`slug` (runs of ``_`` made single, cut to length) with 8 hex digits of the text's SHA-256.

    A safe name never holds ``__``, so names joined with ``__`` (the study's gallery) stay apart too.
    Names that differ only in case stay distinct strings, but share a file on case-insensitive file
    systems (macOS, Windows).

    Example
    -------
    >>> file_name("a_b"), file_name("a b")
    ('a_b', 'a_b-c8687a08')
    """
    # No leading dot: "." and ".." name folders, ".x" hides a file.
    safe = re.sub(r"_{2,}", "_", slug(text)).lstrip(".") or "x"
    if safe == text and len(text) <= MAX_NAME:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[: MAX_NAME - 9].rstrip('_')}-{digest}"
