"""Localisation data: annotated photos from ILSVRC XML files, a simple JSON format, or synthesis."""

from attribkit.datasets._annotations import (
    AnnotatedImage,
    AnnotationError,
    imagenet_wnids,
    read_annotations,
    read_json,
    read_voc_xml,
)
from attribkit.datasets._synthetic import synthetic_images

__all__ = [
    "AnnotatedImage",
    "AnnotationError",
    "imagenet_wnids",
    "read_annotations",
    "read_json",
    "read_voc_xml",
    "synthetic_images",
]
