"""Rendering: heatmaps, overlays and panels are real pictures of the right size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attribkit.render import heatmap, overlay, save_panel, to_uint8_rgb


def test_heatmap_colours_hot_and_cold_differently():
    m = np.zeros((8, 8))
    m[:4] = 1.0
    rgb = heatmap(m)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].sum() > rgb[7, 7].sum()
    flat = heatmap(np.zeros((3, 3)))
    assert (flat == flat[0, 0]).all()  # a flat map is one colour, not NaN


def test_overlay_resizes_the_map_to_the_photo():
    photo = np.full((40, 60, 3), 128, np.uint8)
    m = torch.zeros(10, 15)
    m[:, :5] = 1
    out = overlay(photo, m)
    assert out.shape == photo.shape
    assert not np.array_equal(out[:, :10], photo[:, :10]) and np.array_equal(out[:, -10:], photo[:, -10:])


def test_save_panel(tmp_path):
    path = save_panel(tmp_path / "sub" / "p.png", [np.zeros((20, 20, 3), np.uint8), np.random.rand(20, 20)],
                      ["a", "b"], suptitle="t")
    img = Image.open(path)
    assert img.size[0] > img.size[1] > 0
    with pytest.raises(ValueError):
        save_panel(tmp_path / "x.png", [])


def test_to_uint8_rgb_accepts_chw_floats():
    assert to_uint8_rgb(torch.ones(3, 4, 5)).shape == (4, 5, 3)
    assert to_uint8_rgb(np.ones((4, 5, 3))).max() == 255
