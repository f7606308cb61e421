"""Drawing localisation results: the mask tinted on the photo and each class's box with its name."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from attribkit._core.interfaces import Box

#: Box colours for successive classes (RGB), as in most detection figures; ten, so the paper's top-5 and
#: a top-10 never repeat a colour.
PALETTE = ((255, 64, 64), (64, 200, 255), (255, 210, 0), (120, 255, 120), (220, 120, 255),
           (255, 150, 40), (0, 160, 140), (255, 120, 200), (150, 110, 60), (160, 160, 255))


def box_legend(labels: Sequence[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """Each label with the colour :func:`draw_boxes` gives its box, for a legend beside the photo
    (``save_panel(..., legends=[...])``): labels outside the photo never overprint each other."""
    return [(label, PALETTE[i % len(PALETTE)]) for i, label in enumerate(labels)]


def draw_boxes(
    rgb: np.ndarray,
    boxes: Sequence[Box | None],
    labels: Sequence[str] = (),
    *,
    mask: np.ndarray | None = None,
    truth: Sequence[Box] = (),
    scores: Sequence[float] | None = None,
    seen: Box | None = None,
) -> np.ndarray:
    """The photo with ``mask`` tinted and outlined, ground-truth boxes in white and ``boxes`` in colour,
    ``[H, W, 3]``.

    Lines are about 0.5% of the photo's longer side so they stay visible on large photos. With several
    boxes the first (the top-1 class) is drawn last, on top of the others, and twice as thick. ``scores``
    (the classes' probabilities) leave out the boxes of classes below
    :data:`~attribkit.render.LOW_PROBABILITY` (the "(low)" classes of the legend: the model hardly sees
    them there). ``seen`` (the model's view, :meth:`~attribkit.Geometry.crop_in_photo`) darkens the rest of
    the photo: the model's centre crop left it out, so its map is unknown there. ``labels`` are written
    inside the boxes' top-left corners, where several boxes' labels can overprint: for more than one box
    pass no labels and show :func:`box_legend` beside the photo instead.
    """
    from attribkit.render._figures import is_low

    out = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    height, width = out.shape[:2]
    if seen is not None:
        x0, y0, x1, y1 = (int(v) for v in seen)
        unseen = np.ones((height, width), bool)
        unseen[max(0, y0) : y1, max(0, x0) : x1] = False
        out[unseen] = (out[unseen] * 0.45).astype(np.uint8)
    if mask is not None and mask.shape == (height, width):
        tint = np.array(PALETTE[0], dtype=np.float64)
        out[mask] = (0.6 * out[mask] + 0.4 * tint).astype(np.uint8)
    thick = max(1, round(max(height, width) / 200))
    if mask is not None and mask.shape == (height, width):
        # The outline keeps the mask visible where the photo itself is the tint's colour (a red cup).
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)
    for t in truth:
        cv2.rectangle(out, (int(t[0]), int(t[1])), (int(t[2]) - 1, int(t[3]) - 1), (255, 255, 255), thick)
    scale = max(0.35, max(height, width) / 900)
    for i, b in reversed(list(enumerate(boxes))):
        if b is None or (scores is not None and i < len(scores) and is_low(scores[i])):
            continue
        colour = PALETTE[i % len(PALETTE)]
        width_i = 2 * thick if i == 0 and len(boxes) > 1 else thick
        cv2.rectangle(out, (int(b[0]), int(b[1])), (int(b[2]) - 1, int(b[3]) - 1), colour, width_i)
        if i < len(labels):
            y = max(int(b[1]) + int(14 * scale) + thick, int(14 * scale))
            cv2.putText(out, labels[i], (int(b[0]) + thick + 1, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.6,
                        colour, max(1, thick // 2), cv2.LINE_AA)
    return out
