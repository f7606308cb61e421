"""Files a study replaces whole (pictures, ``study.json``, the skipped list): written beside their place and
moved into it with ``os.replace``, so a process killed mid-write leaves the old file or none, never a torn
one (``os.replace`` is atomic on POSIX and Windows within one file system). A process killed mid-write
(``kill -9``) leaves its temporary file behind: :func:`remove_stale` removes those on resume."""

from __future__ import annotations

import contextlib
import os
import re
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


#: ``.<name>.<pid>.part``: the temporary files of :func:`replacing`.
_TEMPORARY = re.compile(r"\..+\.(\d+)\.part")


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` left by processes that are gone (killed mid-write); keep
    those of running processes (another ``torchrun`` rank writing now). Returns what was removed.

    On Windows nothing is removed: there is no harmless way there to ask whether a process runs.
    """
    removed = []
    for path in sorted(Path(folder).glob(".*.part")):
        found = _TEMPORARY.fullmatch(path.name)
        if found is None or _running(int(found.group(1))):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    if os.name == "nt" or pid == os.getpid():
        return True  # os.kill(pid, 0) would end the process on Windows
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours (PermissionError), or the answer is unknown
        return True
    return True
