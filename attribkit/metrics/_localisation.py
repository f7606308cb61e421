"""Localisation metrics: IoU, the ILSVRC localisation error, GT-known accuracy, MaxBoxAcc (V1 and V2),
pointing game.

Every function is pure (numbers in, numbers out) and takes boxes as ``(x0, y0, x1, y1)`` with the
pixel convention of :data:`attribkit.Box`: pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``, so
a box's area is ``(x1 - x0) * (y1 - y0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from attribkit.errors import InputError, OptionError

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
        raise InputError(f"boxes must be (x0, y0, x1, y1); got shapes {a_arr.shape} and {b_arr.shape}")
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


def _largest_component_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``mask_box(largest_component(mask))`` read from OpenCV's component statistics (the same box, without
    building the component's mask: MaxBoxAcc asks for 100 of them per map), labelled on the mask's bounding
    box only: at high thresholds a small part of the photo. Cropping keeps every component, but not
    OpenCV's label order (its block-based scan depends on where the image starts), which decides between
    components of equal area: a tie is decided on the whole mask, as :func:`largest_component` does."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    crop = np.ascontiguousarray(mask[top : rows[-1] + 1, left : cols[-1] + 1], dtype=np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]  # label 0 is the background
    if np.count_nonzero(areas == areas.max()) > 1:
        top = left = 0
        _, _, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask, dtype=np.uint8), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
    # Ties go to the lower label, as in largest_component.
    x, y, w, h = (int(v) for v in stats[1 + int(np.argmax(areas)), :4])
    return left + x, top + y, left + x + w, top + y + h


def _hits_per_box(boxes: Sequence[BoxLike | None], truths: Sequence[BoxLike], iou_threshold: float) -> np.ndarray:
    """``[_hits(b, truths, iou_threshold) for b in boxes]`` as one IoU over a ``[B, G]`` grid (the same
    float operations per pair; one numpy call instead of one per box)."""
    if len(truths) == 0 or not boxes:
        return np.zeros(len(boxes), dtype=bool)
    present = np.array([b is not None for b in boxes])
    grid = np.array([b if b is not None else (0, 0, 0, 0) for b in boxes], dtype=np.float64)
    ious = iou(np.asarray(truths, dtype=np.float64)[None, :, :], grid[:, None, :])
    return present & np.any(ious >= iou_threshold, axis=1)


def _check_lengths(name_a: str, a: Sequence[object], name_b: str, b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise InputError(f"{name_a} has {len(a)} images but {name_b} has {len(b)}")
    if len(a) == 0:
        raise InputError("no images to evaluate")


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
        raise OptionError(f"k must be >= 1; got {k}")
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
        raise OptionError("thresholds must be a non-empty 1-D sequence")
    hits = np.zeros(taus.size)
    for m, truth in zip(saliency_maps, ground_truth):
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2 or m.size == 0:
            raise InputError(f"saliency maps must be non-empty [H, W]; got shape {m.shape}")
        lo, hi = np.nanmin(m), np.nanmax(m)
        norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        norm = np.nan_to_num(norm, nan=0.0)
        hits += _hits_per_box([_largest_component_box(norm >= tau) for tau in taus], truth, iou_threshold)
    accuracies = hits / len(saliency_maps)
    best = int(np.argmax(accuracies))
    return BoxAccuracy(float(accuracies[best]), float(taus[best]), taus, accuracies)


#: IoU thresholds of MaxBoxAccV2 (Choe et al. 2020): δ ∈ {30, 50, 70}%.
V2_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class BoxAccuracyV2:
    """MaxBoxAccV2: per IoU threshold δ, the best BoxAcc over map thresholds; ``value`` their mean."""

    value: float
    """Mean over ``iou_thresholds`` of the MaxBoxAcc at each (0..1)."""
    per_iou: dict[float, float]
    """δ → max over τ of BoxAcc(τ, δ)."""
    best_thresholds: dict[float, float]
    """δ → the (first) map threshold τ reaching it."""
    thresholds: np.ndarray
    """``[T]`` map thresholds τ."""
    correct: np.ndarray
    """``[N, T, D]`` bool: photo n's best box at τ_t has IoU ≥ δ_d with one of its boxes (for bootstraps)."""


def contour_boxes(normalised: np.ndarray, threshold: float) -> np.ndarray:
    """``[K, 4]`` boxes ``(x0, y0, x1, y1)`` of every contour of ``map > threshold`` (MaxBoxAccV2's
    candidates; ``[[0, 0, 0, 0]]`` when nothing is above it).

    As in Choe et al.'s code: the ``[0, 1]`` map is quantised to 0..255, pixels strictly above
    ``int(threshold * max)`` are kept, and OpenCV's contours (all of them, holes' included) give the
    candidate boxes. Boxes are exclusive at ``x1``/``y1`` (``boundingRect``'s ``x + w``), matching
    :func:`iou`; the reference code clips them to ``width - 1`` and compares them with inclusive ground
    truth, one pixel looser at the far sides.
    """
    return _contour_boxes((np.nan_to_num(normalised, nan=0.0) * 255).astype(np.uint8), threshold)


def _contour_boxes(quantised: np.ndarray, threshold: float) -> np.ndarray:
    """:func:`contour_boxes` of a map already quantised to ``0..255`` (once per map, not per threshold)."""
    level = int(threshold * int(quantised.max()))
    binary = (quantised > level).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((1, 4))
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.float64)
    return np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise InputError(f"saliency maps must be non-empty [H, W]; got shape {m.shape}")
    lo, hi = np.nanmin(m), np.nanmax(m)
    norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    return np.nan_to_num(norm, nan=0.0)


def max_box_acc_v2(
    saliency_maps: Sequence[np.ndarray],
    ground_truth: Sequence[Sequence[BoxLike]],
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
    iou_thresholds: Sequence[float] = V2_IOU_THRESHOLDS,
) -> BoxAccuracyV2:
    """MaxBoxAccV2 (Choe et al., CVPR 2020, "Evaluating weakly supervised object localization methods
    right", section 4.1 and their ``wsolevaluation`` code).

    Each map is min-max normalised to ``[0, 1]`` (NaN, unknown pixels, count as 0); at each map threshold
    τ (``0, 0.01, ..., 0.99``) the candidate boxes are those of *every* contour of the map above τ
    (:func:`contour_boxes`); photo n is right at (τ, δ) when the best IoU of any candidate with any of its
    boxes is ≥ δ. BoxAcc(τ, δ) is the fraction right; MaxBoxAccV2 = mean over δ ∈ {0.3, 0.5, 0.7} of
    max over τ of BoxAcc(τ, δ). V1 (:func:`max_box_acc`) uses one box (the largest component) and δ = 0.5.

    Parameters
    ----------
    saliency_maps
        ``N`` maps ``[H, W]`` in the pixel grid of their boxes (any range; NaN allowed).
    ground_truth
        Per map, its boxes ``(x0, y0, x1, y1)`` (exclusive ``x1``/``y1``, as :func:`iou`).

    Returns
    -------
    BoxAccuracyV2
        ``value`` in ``[0, 1]``; the per-δ accuracies, their thresholds and the per-photo ``correct`` table.

    Raises
    ------
    InputError
        Different numbers of maps and box lists, no maps, a map that is not 2-D.
    OptionError
        Empty thresholds (each is also a ``ValueError``).
    """
    _check_lengths("saliency_maps", saliency_maps, "ground_truth", ground_truth)
    taus = np.arange(0.0, 1.0, 0.01) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    deltas = np.asarray(iou_thresholds, dtype=np.float64)
    if taus.ndim != 1 or taus.size == 0 or deltas.ndim != 1 or deltas.size == 0:
        raise OptionError("thresholds and iou_thresholds must be non-empty 1-D sequences")
    correct = np.zeros((len(saliency_maps), taus.size, deltas.size), dtype=bool)
    for n, (m, truth) in enumerate(zip(saliency_maps, ground_truth)):
        norm = _normalise(m)
        gt = np.asarray(truth, dtype=np.float64).reshape(-1, 4)
        if gt.shape[0] == 0:
            continue
        quantised = (norm * 255).astype(np.uint8)  # norm has no NaN (_normalise)
        boxes = [_contour_boxes(quantised, float(tau)) for tau in taus]
        # One IoU over every threshold's candidates, then the best per threshold (the same float
        # operations per pair as one call per threshold).
        starts = np.cumsum([0] + [len(b) for b in boxes[:-1]])
        best = np.maximum.reduceat(iou(np.concatenate(boxes)[:, None, :], gt[None, :, :]).max(axis=1), starts)
        correct[n] = best[:, None] >= deltas[None, :]
    accuracy = correct.mean(0)  # [T, D]
    best_t = accuracy.argmax(0)
    per_iou = {float(d): float(accuracy[best_t[i], i]) for i, d in enumerate(deltas)}
    best_thresholds = {float(d): float(taus[best_t[i]]) for i, d in enumerate(deltas)}
    return BoxAccuracyV2(float(np.mean(list(per_iou.values()))), per_iou, best_thresholds, taus, correct)


def pointing_game(
    saliency_maps: Sequence[np.ndarray],
    ground_truth: Sequence[Sequence[BoxLike]],
    *,
    tolerance: float = 15.0,
    classes: Sequence[int] | None = None,
) -> float:
    """Pointing game (Zhang et al. 2016, "Top-down neural attention by excitation backprop").

    A hit when the map's maximum (the first one in row-major order, for ties) lies inside a
    ground-truth box or within ``tolerance`` pixels of one (15 px in the paper); the score is
    hits / images, or with ``classes`` (one class per map) the mean over classes of each class's
    hit rate, as TorchRay reports it (Fong et al.'s benchmark code; a class with many photos then weighs
    no more than a rare one). Maps must be in the pixel grid of their boxes.

    Raises
    ------
    InputError
        Lists of different lengths, or a map that is not a non-empty ``[H, W]`` (a ``ValueError`` too).

    Example
    -------
    >>> m = np.zeros((50, 50)); m[40, 40] = 1
    >>> pointing_game([m], [[(0, 0, 26, 26)]])   # 15 px from (25, 25) diagonally is 21 px: a miss
    0.0
    """
    _check_lengths("saliency_maps", saliency_maps, "ground_truth", ground_truth)
    if classes is not None:
        _check_lengths("saliency_maps", saliency_maps, "classes", classes)
        rates = [pointing_game([m for m, c in zip(saliency_maps, classes) if c == k],
                               [t for t, c in zip(ground_truth, classes) if c == k], tolerance=tolerance)
                 for k in sorted(set(classes))]
        return sum(rates) / len(rates)
    hits = 0
    for m, truth in zip(saliency_maps, ground_truth):
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2 or m.size == 0:
            raise InputError(f"saliency maps must be non-empty [H, W]; got shape {m.shape}")
        row, col = np.unravel_index(int(np.nanargmax(m)), m.shape)
        for x0, y0, x1, y1 in truth:
            # Distance from pixel (row, col) to the nearest pixel of the box [x0, x1) x [y0, y1).
            dx = max(x0 - col, 0, col - (x1 - 1))
            dy = max(y0 - row, 0, row - (y1 - 1))
            if np.hypot(dx, dy) <= tolerance:
                hits += 1
                break
    return hits / len(saliency_maps)
