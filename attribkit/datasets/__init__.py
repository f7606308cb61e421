"""Deprecated alias of :mod:`attribkit.data` (annotated and synthetic photos): importing it warns
(``DeprecationWarning``); it will be removed in 0.2. Import the same names from :mod:`attribkit.data`."""

import warnings

warnings.warn(
    "attribkit.datasets is deprecated and will be removed in attribkit 0.2; import read_annotations, "
    "synthetic_images and the rest from attribkit.data",
    DeprecationWarning,
    stacklevel=2,
)

from attribkit.data import (  # noqa: E402 - after the warning
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
