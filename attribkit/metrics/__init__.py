"""Metrics: how faithful a saliency map is to the model, and how well a localisation finds the object."""

from attribkit.metrics._faithfulness import (
    PerturbationCurve,
    auc,
    blur,
    deletion_curve,
    insertion_curve,
)

__all__ = [
    "PerturbationCurve",
    "auc",
    "blur",
    "deletion_curve",
    "insertion_curve",
]
