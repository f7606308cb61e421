"""Data: photos and how they reach a model, real sample photos that ship inside installed packages (no
download) and hand-drawn boxes for them, annotated photos (ILSVRC XML, a simple JSON format) and synthetic
images."""

from attribkit.data._annotations import (
    AnnotatedImage,
    read_annotations,
    read_json,
    read_voc_xml,
)
from attribkit.data._image import MAX_PHOTO_PIXELS, Geometry, LoadedImage, load_image, read_rgb
from attribkit.data._sample_set import SAMPLE_BOXES, SampleBoxes, write_sample_dataset
from attribkit.data._samples import SAMPLE_PHOTOS, sample_photo
from attribkit.data._synthetic import synthetic_images
from attribkit.errors import AnnotationError, ImageError
from attribkit.models._imagenet import imagenet_wnids

__all__ = [
    "MAX_PHOTO_PIXELS",
    "SAMPLE_BOXES",
    "SAMPLE_PHOTOS",
    "AnnotatedImage",
    "AnnotationError",
    "Geometry",
    "ImageError",
    "LoadedImage",
    "SampleBoxes",
    "imagenet_wnids",
    "load_image",
    "read_annotations",
    "read_json",
    "read_rgb",
    "read_voc_xml",
    "sample_photo",
    "synthetic_images",
    "write_sample_dataset",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.data", globals(), __all__)
