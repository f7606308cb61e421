"""Metrics: how faithful a saliency map is to the model, and how well a localisation finds the object."""

from attribkit.metrics._faithfulness import (
    PerturbationCurve,
    auc,
    blur,
    deletion_curve,
    insertion_curve,
)
from attribkit.metrics._road import RoadCurve, noisy_linear_imputation, removal_masks, road
from attribkit.metrics._sanity import (
    MapSimilarity,
    Randomisation,
    data_randomisation,
    map_similarity,
    model_randomisation,
    parameter_layers,
)
from attribkit.metrics._uncertainty import PairedDifference, bootstrap_interval, paired_difference
from attribkit.metrics._localisation import (
    BoxAccuracy,
    BoxAccuracyV2,
    contour_boxes,
    gt_known_accuracy,
    iou,
    localisation_error,
    max_box_acc,
    max_box_acc_v2,
    pointing_game,
)

__all__ = [
    "BoxAccuracy",
    "BoxAccuracyV2",
    "MapSimilarity",
    "PairedDifference",
    "PerturbationCurve",
    "Randomisation",
    "RoadCurve",
    "auc",
    "blur",
    "bootstrap_interval",
    "contour_boxes",
    "data_randomisation",
    "deletion_curve",
    "gt_known_accuracy",
    "insertion_curve",
    "iou",
    "localisation_error",
    "map_similarity",
    "max_box_acc",
    "max_box_acc_v2",
    "model_randomisation",
    "noisy_linear_imputation",
    "paired_difference",
    "parameter_layers",
    "pointing_game",
    "removal_masks",
    "road",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.metrics", globals(), __all__)
