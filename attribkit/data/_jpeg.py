"""Damaged JPEG data, which every decoder here repairs in silence.

libjpeg treats corrupt entropy-coded data as a *warning*: it fills the damaged blocks with whatever the
Huffman decoder produces and carries on, and prints "Corrupt JPEG data: ..." to the process's standard
error. Pillow drops the message (its maintainers confirm no Pillow option surfaces it, python-pillow/Pillow
issue 9106) and torchvision's decoders are deprecated; OpenCV's build of libjpeg-turbo does print it. So
the check decodes the file once more with ``cv2.imdecode`` while file descriptor 2 points at a temporary
file, under a lock, and reads libjpeg's words back. Anything else written to standard error meanwhile (by
another thread) is passed on to it afterwards.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading

import numpy as np

#: How libjpeg words its warnings about damaged data (jerror.h: JWRN_*); other warnings (an unknown JFIF
#: revision, say) are harmless.
_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file", "Invalid SOS parameters",
           "Inconsistent progression sequence")

# File descriptor 2 is the process's: one redirection at a time.
_redirect = threading.Lock()


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

    with _redirect, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = sink.read().decode(errors="replace").splitlines()
    damage = [line.strip() for line in lines if line.startswith(_DAMAGE)]
    others = [line for line in lines if not line.startswith(_DAMAGE)]
    if others:
        sys.stderr.write("\n".join(others) + "\n")
    return damage[0] if damage else None
