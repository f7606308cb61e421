"""Results print as one short line: dtypes and shapes, never the arrays (issue 15)."""

from __future__ import annotations

import numpy as np
import torch

import attribkit
from attribkit._core.reprs import array_summary
from attribkit.localisation import LocalisedClass
from attribkit.visualise import ClassModel


def _short(text: str) -> bool:
    return "\n" not in text and len(text) < 300 and "array(" not in text and "tensor(" not in text


def test_array_summary():
    assert array_summary(np.zeros((2, 3), np.uint8)) == "uint8[2, 3]"
    assert array_summary(torch.zeros(1, 3, 4)) == "float32[1, 3, 4]"


def test_loaded_image_repr(tiny_model):
    image = attribkit.load_image(np.zeros((300, 451, 3), np.uint8), tiny_model)
    text = repr(image)
    assert _short(text)
    assert text.startswith("LoadedImage(source='<array>', rgb=uint8[300, 451, 3], tensor=float32[1, 3, 224, 224]")
    assert f"crop={image.geometry.crop_in_photo()}" in text


def test_localised_class_repr():
    mask = np.zeros((300, 451), bool)
    mask[:150] = True
    r = LocalisedClass(285, "Egyptian cat", 0.3581, (1, 2, 30, 40), mask, np.zeros((300, 451), np.float32))
    assert repr(r) == ("LocalisedClass(label=285, name='Egyptian cat', score=0.358, box=(1, 2, 30, 40), "
                       "mask=bool[300, 451] (50% foreground), saliency=float32[300, 451])")


def test_ascent_repr(tiny_model):
    ascent = ClassModel(tiny_model.float(), steps=2, size=(16, 16), lr=0.1, progress=False).ascend([1, 2])
    text = repr(ascent)
    assert _short(text) and text.startswith("Ascent(targets=[1, 2], rgb=float32[2, 3, 16, 16], final scores=[")
