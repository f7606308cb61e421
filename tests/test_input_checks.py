"""Inputs that are not what they seem: each is refused where it enters, with the exact error.

Non-finite model inputs and outputs (InputError naming the first position), photo arrays outside their
value range (ImageError with the range found, or the documented scaling), every misspelt target
(TargetError), class-model options outside their range (OptionError naming option and range), a diverging
ascent (InputError), and a JPEG file with damaged data (ImageError naming the file, or ImageWarning).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import attribkit
from attribkit import resolve_targets
from attribkit.data import read_rgb
from attribkit.errors import ImageError, ImageWarning, InputError, OptionError, TargetError
from attribkit.visualise import AscentSettings, ClassModel

from conftest import tiny_cnn

SIZE = (16, 16)


class Counting(torch.nn.Module):
    """Counts forward calls; outputs ``nan_from`` calls on are NaN (a model that overflows)."""

    def __init__(self, net: torch.nn.Module, nan_from: int | None = None) -> None:
        super().__init__()
        self.net, self.calls, self.nan_from = net, 0, nan_from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.net(x)
        if self.nan_from is not None and self.calls >= self.nan_from:
            out = out * float("nan")
        return out


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


# --- non-finite inputs and scores ----------------------------------------------------------------------


@pytest.mark.parametrize("averaging", [{}, {"smoothgrad": 2}, {"ten_crop": True}])
@pytest.mark.parametrize("method", ["saliency", "deconvnet"])
def test_a_nan_input_is_refused_before_the_model_runs(method, averaging):
    model = Counting(tiny_cnn())
    x = torch.zeros(2, 3, 16, 32, dtype=torch.float64)
    x[0, 2, 10, 31] = float("nan")
    attributor = attribkit.create_attributor(method, model, **averaging)
    with pytest.raises(InputError, match=exact("input has NaN at [0, 2, 10, 31] (1 of 3072 values not finite)")):
        attributor.attribute(x, target=1)
    assert model.calls == 0


def test_infinities_are_named_by_sign_and_the_first_in_order_is_reported():
    x = torch.zeros(2, 3, 4, 4)
    x[1, 0, 0, 0] = float("inf")
    x[0, 1, 2, 3] = -float("inf")
    with pytest.raises(InputError, match=exact("input has -inf at [0, 1, 2, 3] (2 of 96 values not finite)")):
        attribkit.check_inputs(x)
    # Also a ValueError, for callers written before InputError existed.
    with pytest.raises(ValueError):
        attribkit.check_inputs(x)


def test_non_finite_model_outputs_are_refused_before_targets_are_chosen():
    model = Counting(tiny_cnn(), nan_from=1)
    x = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    attributor = attribkit.create_attributor("saliency", model)
    message = exact("the model's output has NaN at [0, 0] (20 of 20 values not finite)")
    with pytest.raises(InputError, match=message):
        attributor.attribute(x)  # top-1 of NaN scores would be an arbitrary class
    with pytest.raises(InputError, match=message):
        attributor.attribute(x, target=3)
    with pytest.raises(InputError, match=message):
        attribkit.create_attributor("saliency", model, smoothgrad=2).attribute(x, top_k=2)


def test_a_photo_through_a_model_with_nan_output_raises(chelsea):
    model = Counting(tiny_cnn().float(), nan_from=1)
    with pytest.raises(InputError, match=r"^the model's output has NaN at \[0, 0\]"):
        attribkit.saliency(model, chelsea)


def test_finite_inputs_pass_unchanged():
    x = torch.randn(1, 3, 4, 4, requires_grad=True)
    assert attribkit.check_inputs(x) is x
    # Finite values whose sum overflows (the quick test) are still finite.
    big = torch.full((1, 3, 4, 4), 3e38)
    assert attribkit.check_inputs(big) is big
    half = torch.full((1, 3, 8, 8), 60000.0, dtype=torch.float16)
    assert attribkit.check_inputs(half) is half


# --- photo arrays: value ranges --------------------------------------------------------------------------


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)


def test_float_photo_in_unit_range_is_read_as_before(photo):
    rgb, _ = read_rgb(photo.astype(np.float32) / 255)
    np.testing.assert_array_equal(rgb, photo)


def test_whole_numbers_0_to_255_in_a_float_array_are_read_as_8_bit_values(photo):
    # np.asarray(img, dtype=float) of an 8-bit photo: clipping it to [0, 1] gave a white image.
    for dtype in (np.float32, np.float64):
        rgb, _ = read_rgb(photo.astype(dtype))
        np.testing.assert_array_equal(rgb, photo)
    image = attribkit.load_image(photo.astype(np.float64))
    torch.testing.assert_close(image.tensor, attribkit.load_image(photo).tensor, rtol=0, atol=0)


def test_rounding_noise_just_outside_the_unit_range_is_clipped(photo):
    noisy = photo.astype(np.float64) / 255
    noisy[0, 0, 0], noisy[1, 1, 1] = -0.001, 1.001  # resampling overshoot, under half an 8-bit step
    rgb, _ = read_rgb(noisy)
    assert rgb[0, 0, 0] == 0 and rgb[1, 1, 1] == 255


@pytest.mark.parametrize(
    ("values", "found"),
    [
        ((0.5, 300.0), "[0.5, 300]"),  # neither [0, 1] nor 8-bit values
        ((0.0, 127.5), "[0, 127.5]"),  # not whole numbers
        ((-0.2, 0.8), "[-0.2, 0.8]"),  # negative
        ((0.0, 1.01), "[0, 1.01]"),  # beyond rounding noise
    ],
)
def test_other_float_photos_are_refused_with_the_range_found(values, found):
    arr = np.full((4, 4, 3), values[0])
    arr[1, 2, 0] = values[1]
    with pytest.raises(ImageError, match=exact(
        f"float image values must lie in [0, 1] (or be whole numbers in 0..255); found {found}"
    )):
        attribkit.load_image(arr)


@pytest.mark.parametrize("dtype", [">f4", np.float16, np.longdouble])
def test_float_photos_of_any_width_and_byte_order(photo, dtype):
    np.testing.assert_array_equal(read_rgb((photo / 255).astype(dtype))[0], photo)


def test_a_nan_pixel_in_a_photo_array_is_named():
    arr = np.zeros((4, 5, 3), np.float32)
    arr[2, 3, 1] = np.nan
    with pytest.raises(ImageError, match=exact("image array has NaN at [2, 3, 1] (1 of 60 values not finite)")):
        read_rgb(arr)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_integer_photos_above_255_are_scaled_like_16_bit(dtype):
    sixteen = np.array([[0, 257, 1000, 65535]], np.uint16)
    rgb, _ = read_rgb(sixteen.astype(dtype))
    np.testing.assert_array_equal(rgb, read_rgb(sixteen)[0])
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 1, 4, 255])


def test_integer_photos_up_to_255_are_8_bit(photo):
    np.testing.assert_array_equal(read_rgb(photo.astype(np.int64))[0], photo)


@pytest.mark.parametrize(("values", "dtype", "found"), [((-1, 10), np.int16, "[-1, 10] (int16)"),
                                                          ((0, 70000), np.int64, "[0, 70000] (int64)")])
def test_integer_photos_outside_16_bit_are_refused(values, dtype, found):
    arr = np.array([values], dtype)
    with pytest.raises(ImageError, match=exact(
        f"integer image values must lie in 0..255 (8-bit) or 0..65535 (16-bit); found {found}"
    )):
        read_rgb(arr)


# --- targets -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([1, None], "target [1, None] holds None, which is not a class index"),
        ([[1, 2], [3, None]], "target [[1, 2], [3, None]] holds None, which is not a class index"),
        ([[], []], "target is empty ([[], []]); give at least one class per image"),
        ([], "target is empty ([]); give at least one class per image"),
        (torch.tensor([], dtype=torch.long), "target is empty (tensor([], dtype=torch.int64)); give at least "
                                             "one class per image"),
        (1.5, "target must hold integer class indices, not 1.5"),
        (np.float64(2.0), "target must hold integer class indices, not 2.0"),
        ([1, 2.5], "target [1, 2.5] holds 2.5, which is not a class index"),
        (True, "target must be a class index, not a bool (True)"),
        ([True, False], "target [True, False] holds True, which is not a class index"),
        (torch.tensor([True, False]), "target must hold integer class indices, not dtype torch.bool"),
    ],
)
def test_every_target_spelling_error_is_a_target_error(target, message):
    with pytest.raises(TargetError, match=exact(message)):
        resolve_targets(target, batch=2)
    attributor = attribkit.create_attributor("saliency", tiny_cnn())
    with pytest.raises(TargetError, match=exact(message)):
        attributor.attribute(torch.zeros(2, 3, 8, 8, dtype=torch.float64), target=target)


def test_true_is_never_class_1():
    with pytest.raises(TargetError):
        resolve_targets([True], batch=1)
    with pytest.raises(TargetError):
        resolve_targets(np.array([True]), batch=1)
    with pytest.raises(TargetError):
        resolve_targets(np.bool_(True), batch=1)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (None, "the class model needs target classes (an index, a name, or a sequence of them); got None"),
        (1.5, "target must hold integer class indices, not 1.5"),
        (True, "target must be a class index, not a bool (True)"),
        ([1, None], "target [1, None] holds None, which is not a class index"),
        ([2, True], "target [2, True] holds True, which is not a class index"),
        (torch.tensor([True]), "target must hold integer class indices, not True"),
        (torch.tensor([1.0]), "target must hold integer class indices, not 1.0"),
        ([], "target needs at least one class"),
        ([[1, 2]], "the class model takes a flat sequence of classes; got [[1, 2]]"),
        (50, "class index 50 is out of range for a model with 10 outputs"),
    ],
)
def test_class_model_targets(target, message):
    vis = ClassModel(tiny_cnn(), steps=1, size=SIZE, progress=False)
    with pytest.raises(TargetError, match=exact(message)):
        vis.ascend(target)


def test_class_model_targets_that_are_fine():
    vis = ClassModel(tiny_cnn(), steps=1, size=SIZE, progress=False)
    assert vis.resolve(3).tolist() == [3]
    assert vis.resolve([0, np.int64(2), "1"]).tolist() == [0, 2, 1]
    assert vis.resolve(torch.tensor([4, 5])).tolist() == [4, 5]
    assert vis.resolve(np.array([6])).tolist() == [6]


# --- class-model options and a diverging ascent -----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": float("nan")}, "class-model option lr must be a finite number > 0; got nan"),
        ({"lr": -1.0}, "class-model option lr must be a finite number > 0; got -1.0"),
        ({"lr": 0}, "class-model option lr must be a finite number > 0; got 0"),
        ({"steps": -3}, "class-model option steps must be an int >= 1; got -3"),
        ({"steps": 2.5}, "class-model option steps must be an int >= 1; got 2.5"),
        ({"steps": True}, "class-model option steps must be an int >= 1; got True"),
        ({"l2": float("inf")}, "class-model option l2 must be a finite number >= 0; got inf"),
        ({"tv": -0.1}, "class-model option tv must be a finite number >= 0; got -0.1"),
        ({"jitter": 1.5}, "class-model option jitter must be an int >= 0; got 1.5"),
        ({"blur_sigma": 0}, "class-model option blur_sigma must be a finite number > 0; got 0"),
        ({"blur_sigma": float("nan")}, "class-model option blur_sigma must be a finite number > 0; got nan"),
        ({"clip_norm": 100}, "class-model option clip_norm must be a percentile in [0, 100); got 100"),
        ({"clip_contribution": float("nan")},
         "class-model option clip_contribution must be a percentile in [0, 100); got nan"),
        ({"size": (0, 16)}, "class-model option size must be (height, width) in pixels > 0; got (0, 16)"),
    ],
)
def test_class_model_options_out_of_range(options, message):
    with pytest.raises(OptionError, match=exact(message)):
        attribkit.create_visualiser("class_model", tiny_cnn(), **options)


def test_class_model_options_per_call_are_checked_too():
    vis = ClassModel(tiny_cnn(), steps=1, size=SIZE, progress=False)
    with pytest.raises(OptionError, match=exact("class-model option lr must be a finite number > 0; got nan")):
        vis.ascend(1, lr=float("nan"))
    with pytest.raises(OptionError, match=exact("class-model option steps must be an int >= 1; got 0")):
        AscentSettings(steps=0, lr=1.0)
    assert AscentSettings(steps=np.int64(3), lr=np.float32(0.5)).steps == 3


def test_the_ascent_stops_when_a_score_becomes_non_finite():
    model = Counting(tiny_cnn(), nan_from=3)
    vis = ClassModel(model, steps=5, lr=2.0, l2=0.5, size=SIZE, progress=False)
    with pytest.raises(InputError, match=exact(
        "class-model ascent diverged: the score of class 1 is nan at step 3 of 5; lower lr (2) or raise l2 (0.5)"
    )):
        vis.ascend([1, 4])
    assert model.calls == 3  # stopped there, not carried on with NaN


class Steep(torch.nn.Module):
    """Ten class scores, each 1e30 times the pixel sum: finite at the zero image, with a huge gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1).sum(1, keepdim=True) * 1e30).expand(-1, 10)


def test_a_diverging_image_is_reported():
    # One float32 step of 1e10 * 1e30 overflows: the score seen was finite, the image left behind is not.
    vis = ClassModel(Steep(), steps=1, lr=1e10, l2=0, size=SIZE, progress=False)
    with pytest.raises(InputError, match=r"^the class-model image has (inf|-inf) at \[0, 0, 0, 0\] \(768 of 768 "
                                         r"values not finite\) after the last step; lower lr \(1e\+10\) or raise "
                                         r"l2 \(0\)$"):
        vis.ascend(2)


# --- damaged JPEG data ------------------------------------------------------------------------------------


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def damaged_jpeg(tmp_path: Path, chelsea: np.ndarray) -> Path:
    """A real photo whose middle 64 bytes of compressed data were overwritten (header and end intact)."""
    data = bytearray(jpeg_bytes(chelsea))
    middle = len(data) // 2
    data[middle : middle + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    path = tmp_path / "damaged cat.jpg"
    path.write_bytes(bytes(data))
    return path


def test_pillow_alone_decodes_the_damage_in_silence(damaged_jpeg):
    # Why the check exists: PIL reads it as a photo, with garbage in the damaged part, and no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Image.open(damaged_jpeg) as img:
            img.load()


def test_damaged_jpeg_data_raises_an_image_error_naming_the_file(damaged_jpeg, capfd):
    with pytest.raises(ImageError, match=exact(
        f"{damaged_jpeg}: corrupt JPEG data, decoded with garbage in the damaged part (libjpeg: Corrupt JPEG "
        "data: 11 extraneous bytes before marker 0xd9); pass corrupt='warn' to use it anyway"
    )):
        attribkit.load_image(damaged_jpeg)
    assert "Corrupt JPEG" not in capfd.readouterr().err  # libjpeg's own print is taken in, not leaked


def test_damaged_jpeg_data_warns_or_passes_by_option(damaged_jpeg, chelsea):
    with pytest.warns(ImageWarning, match=re.escape(f"{damaged_jpeg}: corrupt JPEG data")):
        image = attribkit.load_image(damaged_jpeg, corrupt="warn")
    assert image.rgb.shape == chelsea.shape
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb, name = read_rgb(damaged_jpeg, corrupt="ignore")
    assert name == str(damaged_jpeg) and rgb.shape == chelsea.shape
    with pytest.raises(ValueError, match=r"corrupt must be one of \('raise', 'warn', 'ignore'\); got 'skip'"):
        read_rgb(damaged_jpeg, corrupt="skip")  # type: ignore[arg-type]


def test_intact_jpegs_and_other_formats_pass(tmp_path, chelsea):
    whole = tmp_path / "cat.jpg"
    whole.write_bytes(jpeg_bytes(chelsea))
    png = tmp_path / "cat.png"
    Image.fromarray(chelsea).save(png)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_rgb(whole)[0].shape == chelsea.shape
        np.testing.assert_array_equal(read_rgb(png)[0], chelsea)


def test_jpegs_load_and_damage_is_found_with_standard_error_closed(tmp_path, damaged_jpeg, chelsea):
    # `attribkit saliency photo.jpg 2>&-`: the damage check borrows file descriptor 2, which is not open.
    import subprocess
    import sys

    whole = tmp_path / "cat.jpg"
    whole.write_bytes(jpeg_bytes(chelsea))
    code = ("import attribkit, sys\n"
            f"print(attribkit.read_rgb({str(whole)!r})[0].shape)\n"
            "try:\n"
            f"    attribkit.read_rgb({str(damaged_jpeg)!r})\n"
            "except attribkit.ImageError as exc:\n"
            "    print('damaged:', 'Corrupt JPEG data' in str(exc))\n"
            "import os\n"
            "try:\n"
            "    os.fstat(2)\n"
            "    print('fd 2 open')\n"
            "except OSError:\n"
            "    print('fd 2 closed')\n")
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, timeout=120,
                          preexec_fn=lambda: os.close(2))
    assert done.stdout.splitlines() == [str(chelsea.shape), "damaged: True", "fd 2 closed"], done
