"""Map batches sized to the device: ``map_batch="auto"`` and the back-off on running out of device memory.

A study computes maps a batch of photos at a time, every batch padded to one size so that a photo's map
does not depend on its neighbours (:mod:`attribkit.study._batches`). A number (``map_batch=8``) fixes that
size: the shapes, and so the records, are the same on every run; a batch that does not fit the device's
memory stops the study with an :class:`~attribkit.errors.OptionError` saying so.

``map_batch="auto"`` starts with the largest size worth trying (:data:`AUTO_START`: on CUDA 256 photos,
each with its K classes; on a CPU :data:`AUTO_CPU`, where larger batches gain nothing and running out of
memory cannot be caught) and, when a batch raises ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``
is the same class), frees the cached memory, halves the size for the rest of the run and computes the
same photos again in halves (:func:`in_slices`). Nothing is recorded twice: a batch's records are written
only once all of its maps are computed. The size found is the largest power-of-two fraction of the start
that fits; since it decides the shapes, a study with ``auto`` gives the records of a study with that
number, which may differ from another device's in the last bits of the maps (see docs/studies.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from attribkit.errors import AttribkitWarning, OptionError

T = TypeVar("T")

AUTO = "auto"
#: ``map_batch="auto"``'s first size on a GPU: photos per batch (times K classes in the backward).
AUTO_START = 256
#: ``map_batch="auto"`` on a CPU: the study's default size (a CPU gains nothing from larger batches).
AUTO_CPU = 8


def first_size(map_batch: int | str, device: torch.device, photos: int) -> int:
    """The batch size a study starts with: ``map_batch`` itself, or ``"auto"``'s start on ``device``; never
    more than ``photos`` (at least 1). ``OptionError`` for anything but a whole number >= 1 or ``"auto"``."""
    if map_batch == AUTO:
        start = AUTO_CPU if device.type == "cpu" else AUTO_START
    elif isinstance(map_batch, bool) or not isinstance(map_batch, int) or map_batch < 1:
        raise OptionError(f"map_batch must be >= 1 or 'auto'; got {map_batch!r}")
    else:
        start = map_batch
    return max(1, min(start, photos))


@dataclass
class BatchSize:
    """The size of the study's map batches now: fixed, or (``auto``) halved each time one does not fit."""

    size: int
    auto: bool = False

    def halve(self, device: torch.device, reason: str) -> None:
        """The next size after an out-of-memory error; ``OptionError`` when the size is fixed or already 1."""
        if not self.auto:
            raise OptionError(f"map_batch={self.size} does not fit in the memory of {device} ({reason}); give a "
                              "smaller map_batch (--map-batch N), or 'auto' to find one")
        if self.size == 1:
            raise OptionError(f"the maps of one photo do not fit in the memory of {device} ({reason}); use fewer "
                              "classes per photo (top_k) or another device")
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the failed batch's blocks, so the smaller one can have them
        self.size //= 2
        warnings.warn(f"a map batch does not fit in the memory of {device} ({reason}); computing it again in "
                      f"batches of {self.size} photos, and the rest of the study too", AttribkitWarning, stacklevel=4)


def in_slices(compute: Callable[[slice, int], T], count: int, size: BatchSize, device: torch.device) -> list[T]:
    """``compute(rows, padded)`` over rows ``0 .. count`` in slices of ``size.size`` rows (each padded by
    ``compute`` to ``padded`` rows): one slice while the batch fits. On ``torch.OutOfMemoryError`` the size
    is halved (:meth:`BatchSize.halve`) and the slice that failed is computed again, smaller; the slices
    done are kept.

    Returns each slice's result, in row order (``compute`` answers for its own rows only, not the padding).
    """
    done: list[T] = []
    start = 0
    while start < count:
        rows = slice(start, min(start + size.size, count))
        reason = None
        try:
            done.append(compute(rows, size.size))
        except torch.OutOfMemoryError as exc:
            # Halved outside the handler: the exception's frames hold the failed batch's tensors.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
        if reason is None:
            start = rows.stop
        else:
            size.halve(device, reason[:200])
    return done
