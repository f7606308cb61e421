"""Pure-function metrics for attribution methods: localisation (boxes) for now."""

from attribkit.metrics._localisation import (
    BoxAccuracy,
    gt_known_accuracy,
    iou,
    localisation_error,
    max_box_acc,
    pointing_game,
)

__all__ = [
    "BoxAccuracy",
    "gt_known_accuracy",
    "iou",
    "localisation_error",
    "max_box_acc",
    "pointing_game",
]
