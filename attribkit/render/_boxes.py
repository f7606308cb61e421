"""Drawing localisation results: the mask tinted on the photo and each class's box with its name."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from attribkit._core.interfaces import Box

#: Box colours for successive classes (RGB), as in most detection figures.
PALETTE = ((255, 64, 64), (64, 200, 255), (255, 210, 0), (120, 255, 120), (220, 120, 255))


def draw_boxes(
    rgb: np.ndarray,
    boxes: Sequence[Box | None],
    labels: Sequence[str] = (),
    *,
    mask: np.ndarray | None = None,
    truth: Sequence[Box] = (),
) -> np.ndarray:
    """The photo with ``mask`` tinted, ground-truth boxes in white and ``boxes`` in colour, ``[H, W, 3]``.

    Lines are about 0.5% of the photo's longer side so they stay visible on large photos.
    """
    out = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    height, width = out.shape[:2]
    if mask is not None and mask.shape == (height, width):
        tint = np.array(PALETTE[0], dtype=np.float64)
        out[mask] = (0.55 * out[mask] + 0.45 * tint).astype(np.uint8)
    thick = max(1, round(max(height, width) / 200))
    for t in truth:
        cv2.rectangle(out, (int(t[0]), int(t[1])), (int(t[2]) - 1, int(t[3]) - 1), (255, 255, 255), thick)
    scale = max(0.35, max(height, width) / 900)
    for i, b in enumerate(boxes):
        if b is None:
            continue
        colour = PALETTE[i % len(PALETTE)]
        cv2.rectangle(out, (int(b[0]), int(b[1])), (int(b[2]) - 1, int(b[3]) - 1), colour, thick)
        if i < len(labels):
            y = max(int(b[1]) + int(14 * scale) + thick, int(14 * scale))
            cv2.putText(out, labels[i], (int(b[0]) + thick + 1, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.6,
                        colour, max(1, thick // 2), cv2.LINE_AA)
    return out
