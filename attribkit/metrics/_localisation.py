"""Localisation metrics: IoU, the ILSVRC localisation error, GT-known accuracy, MaxBoxAcc, pointing game.

Every function is pure (numbers in, numbers out) and takes boxes as ``(x0, y0, x1, y1)`` with the
pixel convention of :data:`attribkit.Box`: pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``, so
a box's area is ``(x1 - x0) * (y1 - y0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attribkit._core.boxes import largest_component, mask_box

BoxLike = Sequence[float]
#: One (class, box) pair: a guess of the localiser, or an annotated object.
LabelledBox = tuple[int, BoxLike]


def iou(a: BoxLike | np.ndarray, b: BoxLike | np.ndarray) -> float | np.ndarray:
    """Intersection over union of boxes ``(x0, y0, x1, y1)``.

    Broadcasts over leading axes of ``[..., 4]`` arrays; two plain boxes give a float. A box with no
    area has IoU 0 with everything (also with itself).

    Example
    -------
    >>> iou((0, 0, 2, 2), (1, 1, 3, 3))   # 1 / (4 + 4 - 1)
    0.14285714285714285
    """
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.shape[-1:] != (4,) or b_arr.shape[-1:] != (4,):
        raise ValueError(f"boxes must be (x0, y0, x1, y1); got shapes {a_arr.shape} and {b_arr.shape}")
    wa = np.clip(a_arr[..., 2] - a_arr[..., 0], 0, None)
    ha = np.clip(a_arr[..., 3] - a_arr[..., 1], 0, None)
    wb = np.clip(b_arr[..., 2] - b_arr[..., 0], 0, None)
    hb = np.clip(b_arr[..., 3] - b_arr[..., 1], 0, None)
    iw = np.clip(np.minimum(a_arr[..., 2], b_arr[..., 2]) - np.maximum(a_arr[..., 0], b_arr[..., 0]), 0, None)
    ih = np.clip(np.minimum(a_arr[..., 3], b_arr[..., 3]) - np.maximum(a_arr[..., 1], b_arr[..., 1]), 0, None)
    inter = iw * ih
    union = wa * ha + wb * hb - inter
    out = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return float(out) if out.ndim == 0 else out


def _hits(box: BoxLike | None, truths: Sequence[BoxLike], iou_threshold: float) -> bool:
    if box is None or len(truths) == 0:
        return False
    return bool(np.any(np.asarray(iou(np.asarray(truths, dtype=np.float64), box)) >= iou_threshold))


def _check_lengths(name_a: str, a: Sequence[object], name_b: str, b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} images but {name_b} has {len(b)}")
    if len(a) == 0:
        raise ValueError("no images to evaluate")


def localisation_error(
    predictions: Sequence[Sequence[tuple[int, BoxLike | None]]],
    ground_truth: Sequence[Sequence[LabelledBox]],
    *,
    k: int = 5,
    iou_threshold: float = 0.5,
) -> float:
    """ILSVRC localisation error: the fraction of images where none of the first ``k`` guesses is right.

    A guess ``(class, box)`` is right when the class is one of the image's annotated classes and the
    box has IoU ≥ ``iou_threshold`` with any annotated box *of that class* (the ILSVRC criterion).
    ``k=1`` gives the top-1 error, ``k=5`` the top-5 error the paper reports (46.4%).

    Parameters
    ----------
    predictions
        Per image, the guesses in order of the model's confidence; a box may be ``None`` (no answer).
    ground_truth
        Per image, the annotated ``(class, box)`` pairs (several objects and classes are allowed).

    Example
    -------
    >>> localisation_error([[(3, (0, 0, 10, 10))]], [[(3, (0, 0, 10, 9))]], k=1)
    0.0
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    _check_lengths("predictions", predictions, "ground_truth", ground_truth)
    wrong = 0
    for guesses, truth in zip(predictions, ground_truth):
        right = any(
            _hits(box, [b for c, b in truth if int(c) == int(label)], iou_threshold)
            for label, box in list(guesses)[:k]
        )
        wrong += not right
    return wrong / len(predictions)


def gt_known_accuracy(
    boxes: Sequence[BoxLike | None],
    ground_truth: Sequence[Sequence[BoxLike]],
    *,
    iou_threshold: float = 0.5,
) -> float:
    """Localisation accuracy when the class is given: the fraction of images whose box (made for the
    true class) has IoU ≥ ``iou_threshold`` with any ground-truth box of that class.

    Example
    -------
    >>> gt_known_accuracy([(0, 0, 4, 4), None], [[(0, 0, 4, 4)], [(0, 0, 1, 1)]])
    0.5
    """
    _check_lengths("boxes", boxes, "ground_truth", ground_truth)
    return sum(_hits(b, t, iou_threshold) for b, t in zip(boxes, ground_truth)) / len(boxes)


@dataclass(frozen=True)
class BoxAccuracy:
    """MaxBoxAcc and the BoxAcc curve it is the maximum of."""

    value: float
    """The best BoxAcc over the thresholds."""
    threshold: float
    """The (first) threshold reaching it."""
    thresholds: np.ndarray
    accuracies: np.ndarray


def max_box_acc(
    saliency_maps: Sequence[np.ndarray],
    ground_truth: Sequence[Sequence[BoxLike]],
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
    iou_threshold: float = 0.5,
) -> BoxAccuracy:
    """MaxBoxAcc (Choe et al. 2020, "Evaluating weakly supervised object localization methods right").

    Each map is min-max normalised to ``[0, 1]``; for a threshold τ the box is that of the largest
    connected component of ``map >= τ``; BoxAcc(τ) is the fraction of images whose box has IoU ≥
    ``iou_threshold`` with a ground-truth box; MaxBoxAcc is the maximum over τ. It measures the map,
    not a localiser's choice of threshold. Maps must be in the pixel grid of their boxes.

    Parameters
    ----------
    thresholds
        τ values (default ``0, 0.01, ..., 0.99`` as in the paper's code).
    """
    _check_lengths("saliency_maps", saliency_maps, "ground_truth", ground_truth)
    taus = np.arange(0.0, 1.0, 0.01) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if taus.ndim != 1 or taus.size == 0:
        raise ValueError("thresholds must be a non-empty 1-D sequence")
    hits = np.zeros(taus.size)
    for m, truth in zip(saliency_maps, ground_truth):
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2 or m.size == 0:
            raise ValueError(f"saliency maps must be non-empty [H, W]; got shape {m.shape}")
        lo, hi = np.nanmin(m), np.nanmax(m)
        norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        norm = np.nan_to_num(norm, nan=0.0)
        for i, tau in enumerate(taus):
            hits[i] += _hits(mask_box(largest_component(norm >= tau)), truth, iou_threshold)
    accuracies = hits / len(saliency_maps)
    best = int(np.argmax(accuracies))
    return BoxAccuracy(float(accuracies[best]), float(taus[best]), taus, accuracies)


def pointing_game(
    saliency_maps: Sequence[np.ndarray],
    ground_truth: Sequence[Sequence[BoxLike]],
    *,
    tolerance: float = 15.0,
) -> float:
    """Pointing game (Zhang et al. 2016, "Top-down neural attention by excitation backprop").

    A hit when the map's maximum (the first one in row-major order, for ties) lies inside a
    ground-truth box or within ``tolerance`` pixels of one (15 px in the paper); the score is
    hits / images. Maps must be in the pixel grid of their boxes.

    Example
    -------
    >>> m = np.zeros((50, 50)); m[40, 40] = 1
    >>> pointing_game([m], [[(0, 0, 26, 26)]])   # 15 px from (25, 25) diagonally is 21 px: a miss
    0.0
    """
    _check_lengths("saliency_maps", saliency_maps, "ground_truth", ground_truth)
    hits = 0
    for m, truth in zip(saliency_maps, ground_truth):
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2 or m.size == 0:
            raise ValueError(f"saliency maps must be non-empty [H, W]; got shape {m.shape}")
        row, col = np.unravel_index(int(np.nanargmax(m)), m.shape)
        for x0, y0, x1, y1 in truth:
            # Distance from pixel (row, col) to the nearest pixel of the box [x0, x1) x [y0, y1).
            dx = max(x0 - col, 0, col - (x1 - 1))
            dy = max(y0 - row, 0, row - (y1 - 1))
            if np.hypot(dx, dy) <= tolerance:
                hits += 1
                break
    return hits / len(saliency_maps)
