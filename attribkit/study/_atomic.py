"""Files a study replaces whole (pictures, ``study.json``, the skipped list): written beside their place and
moved into it with ``os.replace``, so a process killed mid-write leaves the old file or none, never a torn
one (``os.replace`` is atomic on POSIX and Windows within one file system)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on leaving without an exception it replaces ``path``.

    The temporary name is hidden and per process (``.<name>.<pid>.part``); it is removed on an exception.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)`` (UTF-8), atomically."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
