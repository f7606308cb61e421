"""Masks and boxes: the box of a mask, the largest connected component, the mask of a box."""

from __future__ import annotations

import cv2
import numpy as np

from attribkit._core.interfaces import Box


def mask_box(mask: np.ndarray) -> Box | None:
    """``(min col, min row, max col + 1, max row + 1)`` of a boolean mask, or ``None`` if it is empty.

    Example
    -------
    >>> m = np.zeros((4, 5), bool); m[1:3, 2] = True
    >>> mask_box(m)
    (2, 1, 3, 3)
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (an empty mask stays empty)."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    # Label 0 is the background; ties go to the lower label, which is deterministic.
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def box_mask(box: Box | None, height: int, width: int) -> np.ndarray:
    """A boolean ``[height, width]`` mask filled inside ``box`` (empty for ``None``)."""
    mask = np.zeros((height, width), dtype=bool)
    if box is not None:
        x0, y0, x1, y1 = box
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    return mask
