"""Image I/O: every common kind of file and array, clear errors, and the crop geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import attribkit
from attribkit import ImageError, Preprocessing, load_image


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)


def test_array_gives_model_input_and_keeps_the_original(photo):
    image = load_image(photo, Preprocessing())
    assert image.tensor.shape == (1, 3, 224, 224) and image.tensor.dtype == torch.float32
    assert np.array_equal(image.rgb, photo)
    assert image.input_rgb.shape == (224, 224, 3)
    back = Preprocessing().denormalise(image.tensor[0]).permute(1, 2, 0).numpy() * 255
    assert np.abs(back - image.input_rgb).max() < 1e-3


def test_default_model_normalisation(default_model):
    white = np.full((300, 300, 3), 255, np.uint8)
    x = load_image(white, default_model).tensor
    assert torch.allclose(x, torch.full_like(x, (255 - 127) / 128))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK", "LA", "1"])
def test_file_modes(tmp_path, photo, mode):
    img = Image.fromarray(photo)
    if mode == "I;16":
        img = Image.fromarray((photo[..., 0].astype(np.uint16) * 257))
    else:
        img = img.convert(mode)
    path = tmp_path / f"x.{'tif' if mode in ('I;16', 'CMYK') else 'png'}"
    img.save(path)
    image = load_image(path)
    assert image.rgb.shape == (60, 90, 3) and image.rgb.dtype == np.uint8
    assert image.source == str(path)
    if mode == "I;16":
        assert np.abs(image.rgb[..., 0].astype(int) - photo[..., 0]).max() <= 1


def test_transparent_pixels_are_shown_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:5, :, 3] = 255  # top half opaque red, bottom half fully transparent
    path = tmp_path / "t.png"
    Image.fromarray(rgba).save(path)
    rgb = load_image(path).rgb
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[9, 9].tolist() == [255, 255, 255]
    assert load_image(rgba).rgb[9, 9].tolist() == [255, 255, 255]


def test_exif_rotation_is_applied(tmp_path, photo):
    img = Image.fromarray(photo)  # 90 wide, 60 high
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert load_image(path).rgb.shape == (90, 60, 3)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((5, 7), np.uint8),
        np.zeros((5, 7, 1), np.uint8),
        np.full((5, 7, 3), 0.5, np.float32),
        np.full((5, 7, 3), 65535, np.uint16),
        np.ones((5, 7), bool),
        np.zeros((1, 1, 3), np.uint8),
    ],
)
def test_array_kinds(array):
    image = load_image(array)
    assert image.rgb.shape == (*array.shape[:2], 3) and image.rgb.dtype == np.uint8
    assert image.tensor.shape == (1, 3, 224, 224)


def test_huge_image(tmp_path):
    big = np.zeros((6000, 9000, 3), np.uint8)
    big[3000:, :4500] = 255
    path = tmp_path / "big.png"
    Image.fromarray(big).save(path, compress_level=1)
    image = load_image(path)
    # Kept as a copy of at most MAX_PHOTO_PIXELS (issue 20: 6000 x 9000 was kept whole before), the
    # photo's own size in the geometry.
    g = image.geometry
    assert (g.source_width, g.source_height) == (9000, 6000) and image.tensor.shape == (1, 3, 224, 224)
    assert image.rgb.shape == (g.height, g.width, 3) and g.width * g.height <= attribkit.MAX_PHOTO_PIXELS
    assert abs(g.width / g.height - 1.5) < 1e-3


def test_corrupt_missing_and_non_image_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ImageError, match="notes.txt: not a readable image"):
        load_image(text)
    broken = tmp_path / "broken.jpg"
    buf = tmp_path / "ok.jpg"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(buf)
    broken.write_bytes(buf.read_bytes()[:200])
    with pytest.raises(ImageError, match="broken.jpg"):
        load_image(broken)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageError, match="expected a path"):
        load_image(42)


@pytest.mark.parametrize("size", [(300, 451), (451, 300), (224, 224), (20, 13), (1000, 260)])
def test_geometry_maps_the_crop_back_to_the_photo(size):
    height, width = size
    image = load_image(np.zeros((height, width, 3), np.uint8))
    g = image.geometry
    x0, y0, x1, y1 = g.crop_in_photo()
    # The crop is centred and square in the resized photo, so it spans the shorter side of the photo.
    short = min(height, width)
    assert (x1 - x0, y1 - y0) == pytest.approx((short * 224 / 256,) * 2, abs=2)
    assert abs((x0 + x1) / 2 - width / 2) <= 1 and abs((y0 + y1) / 2 - height / 2) <= 1
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def test_loaded_image_input_rgb_is_what_the_model_sees(default_model, chelsea):
    image = attribkit.load_image(chelsea, default_model)
    pre = attribkit.model_info(default_model).preprocessing
    shown = pre.denormalise(image.tensor[0]).permute(1, 2, 0).numpy() * 255
    assert np.abs(shown - image.input_rgb).max() < 1e-3


def test_a_large_jpeg_is_decoded_scaled_and_kept_as_a_bounded_copy(tmp_path, chelsea):
    """Issue 20: a 48-Mpx photo was decoded, kept and localised at full size (18.8 GB). The model's crop
    needs 1/8 of it, the kept copy MAX_PHOTO_PIXELS; libjpeg decodes at 1/2 here, boxes map back."""
    path = tmp_path / "big.jpg"
    Image.fromarray(chelsea).resize((8000, 6000), Image.Resampling.NEAREST).save(path, quality=80)
    image = load_image(path)
    g = image.geometry
    assert (g.source_width, g.source_height) == (8000, 6000)
    assert image.rgb.shape == (g.height, g.width, 3) and g.width * g.height <= attribkit.MAX_PHOTO_PIXELS
    assert g.to_source((0, 0, g.width, g.height)) == (0, 0, 8000, 6000)
    assert g.from_source((0, 0, 8000, 6000)) == (0, 0, g.width, g.height)
    # The model sees what it sees of the whole photo decoded in full (DCT scaling: within a few levels).
    full = load_image(np.asarray(Image.open(path).convert("RGB")))
    assert np.abs(full.input_rgb.astype(int) - image.input_rgb.astype(int)).mean() < 2.0
    assert (full.geometry.source_width, full.geometry.width) == (8000, g.width)


def test_only_the_crop_is_resized(tmp_path):
    """Issue 20: a 327-byte 20000 x 4 PNG was resized whole to 1280000 x 256 (4 GB) before cropping."""
    import tracemalloc

    path = tmp_path / "wide.png"
    Image.new("RGB", (20000, 4), (128, 128, 128)).save(path)
    tracemalloc.start()
    try:
        image = load_image(path)
        crop = image.input_rgb
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.rgb.shape == (4, 20000, 3) and crop.shape == (224, 224, 3) and (crop == 128).all()
    assert peak < 20e6, f"{peak / 1e6:.0f} MB"  # the photo is 0.24 MB, the crop 0.15 MB
