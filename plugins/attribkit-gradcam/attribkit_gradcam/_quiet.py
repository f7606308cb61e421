"""Score-CAM's progress bars, hidden: pytorch-grad-cam draws a ``tqdm`` bar per image and class, which on
a study of hundreds of photos buries the log. The library offers no switch, so the name ``tqdm`` in its
``score_cam`` module is pointed at a silent stand-in while bridged calls run (the first call in swaps,
the last one out restores, under a lock, so threads may overlap).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_inside = 0
_saved: Any = None


def _silent(iterable: Iterable[Any], *args: Any, **kwargs: Any) -> Iterable[Any]:
    return iterable


_SILENT = types.SimpleNamespace(tqdm=_silent)


@contextmanager
def quiet_score_cam() -> Iterator[None]:
    """Run the block with ``pytorch_grad_cam.score_cam``'s progress bars off."""
    global _inside, _saved
    from pytorch_grad_cam import score_cam

    with _lock:
        if _inside == 0:
            _saved = score_cam.tqdm
            score_cam.tqdm = _SILENT
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                score_cam.tqdm = _saved
                _saved = None
