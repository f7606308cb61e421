"""Localisation data (annotated and synthetic photos): kept as an import path; they live in
:mod:`attribkit.data`."""

from attribkit.data import (
    AnnotatedImage,
    AnnotationError,
    imagenet_wnids,
    read_annotations,
    read_json,
    read_voc_xml,
    synthetic_images,
)

__all__ = [
    "AnnotatedImage",
    "AnnotationError",
    "imagenet_wnids",
    "read_annotations",
    "read_json",
    "read_voc_xml",
    "synthetic_images",
]
