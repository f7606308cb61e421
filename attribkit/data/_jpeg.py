"""Damaged JPEG data, which every decoder here repairs in silence.

libjpeg treats corrupt entropy-coded data as a *warning*: it fills the damaged blocks with whatever the
Huffman decoder produces and carries on, and prints "Corrupt JPEG data: ..." to the process's standard
error. Pillow drops the message (its maintainers confirm no Pillow option surfaces it, python-pillow/Pillow
issue 9106) and torchvision's decoders are deprecated; OpenCV's build of libjpeg-turbo does print it. So
the check decodes the file once more with ``cv2.imdecode`` while file descriptor 2 points at a temporary
file, under a lock, and reads libjpeg's words back. Anything else written to standard error meanwhile (by
another thread) is passed on to it afterwards. A process started with standard error closed (``2>&-``)
still has its photos checked, and finds descriptor 2 closed again afterwards.

What libjpeg catches is damage that breaks the entropy-coded structure; damage that still decodes as
valid Huffman data cannot be told from a photo by any decoder. Measured here: of 40 random overwrites of
1-63 bytes in the middle of four sample photos, 32 were caught (the full decode catches the same ones
as the reduced one used below), and none of 581 intact ImageNet and matplotlib JPEGs was flagged. The
check costs about 0.6 ms per ImageNet-sized photo.
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading
from typing import IO

import numpy as np

#: How libjpeg words its warnings about damaged data (jerror.h: JWRN_*); other warnings (an unknown JFIF
#: revision, say) are harmless.
_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file", "Invalid SOS parameters",
           "Inconsistent progression sequence")

# File descriptor 2 is the process's: one redirection at a time, into one reused file.
_redirect = threading.Lock()
_sink: IO[bytes] | None = None


def jpeg_damage(data: bytes) -> str | None:
    """libjpeg's first warning about damaged data in the JPEG file ``data``, or ``None`` when it has none.

    Example
    -------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    >>> jpeg_damage(buffer.getvalue()) is None
    True
    """
    import cv2  # only for JPEG files; keeps OpenCV out of start-up

    global _sink
    with _redirect:
        _to_stderr(None)
        saved = _dup_stderr()
        if _sink is None:
            # With descriptor 2 closed the sink would be given number 2, and stay there: hold it meanwhile.
            holder = os.open(os.devnull, os.O_WRONLY) if saved is None else None
            _sink = tempfile.TemporaryFile()
            atexit.register(_sink.close)
            if holder is not None:
                os.close(holder)
        _sink.seek(0)
        _sink.truncate()
        try:
            os.dup2(_sink.fileno(), 2)
            # Reduced grayscale: libjpeg still entropy-decodes every block (where damage shows) but skips
            # the inverse DCTs and colour conversion.
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_IGNORE_ORIENTATION)
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            else:
                os.close(2)  # standard error was closed (`2>&-`): leave it closed
        _sink.seek(0)
        lines = _sink.read().decode(errors="replace").splitlines()
    damage = [line.strip() for line in lines if line.startswith(_DAMAGE)]
    others = [line for line in lines if not line.startswith(_DAMAGE)]
    if others:
        _to_stderr("\n".join(others) + "\n")
    return damage[0] if damage else None


def _dup_stderr() -> int | None:
    """A duplicate of file descriptor 2, or ``None`` when the process runs with it closed."""
    try:
        return os.dup(2)
    except OSError:
        return None


def _to_stderr(text: str | None) -> None:
    """Write ``text`` to (or, for ``None``, flush) ``sys.stderr``, which may be ``None`` or closed: a
    process started with standard error closed still reads its photos."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        if text is not None:
            stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass
