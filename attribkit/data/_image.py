"""Reading photos into a model's input space, and the geometry that maps results back onto the photo."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from attribkit._core.inputs import check_finite
from attribkit._core.reprs import array_summary
from attribkit.data._jpeg import jpeg_damage
from attribkit.errors import ImageError, ImageWarning, OptionError
from attribkit.models._info import Preprocessing, model_info

ImageSource = Union[str, os.PathLike, np.ndarray, Image.Image]
CorruptPolicy = Literal["raise", "warn", "ignore"]
_POLICIES = ("raise", "warn", "ignore")


@dataclass(frozen=True)
class Geometry:
    """How the model's input crop sits in the original photo.

    The photo (``width`` × ``height``) was resized to ``resized_width`` × ``resized_height`` and a
    ``crop`` × ``crop`` square was cut at ``(left, top)`` of the resized photo. Coordinates follow
    :data:`attribkit.Box`.
    """

    width: int
    height: int
    resized_width: int
    resized_height: int
    left: int
    top: int
    crop: int

    def to_photo(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """A box in input-crop pixels → the photo's pixels (clipped to the photo)."""
        sx, sy = self.resized_width / self.width, self.resized_height / self.height
        x0, y0, x1, y1 = (
            (box[0] + self.left) / sx,
            (box[1] + self.top) / sy,
            (box[2] + self.left) / sx,
            (box[3] + self.top) / sy,
        )
        return (
            max(0, int(np.floor(x0))),
            max(0, int(np.floor(y0))),
            min(self.width, int(np.ceil(x1))),
            min(self.height, int(np.ceil(y1))),
        )

    def crop_in_photo(self) -> tuple[int, int, int, int]:
        """The region of the photo the model sees."""
        return self.to_photo((0, 0, self.crop, self.crop))


@dataclass(frozen=True, repr=False)
class LoadedImage:
    """A photo ready for a model.

    Attributes
    ----------
    tensor
        ``[1, 3, crop, crop]`` float32 in the model's normalised input space.
    rgb
        The original photo as ``[H, W, 3]`` uint8 RGB (EXIF orientation applied), for display.
    geometry
        Where the input crop sits in ``rgb``.
    source
        The file it came from, or ``"<array>"``.
    """

    tensor: torch.Tensor
    rgb: np.ndarray
    geometry: Geometry
    source: str

    def __repr__(self) -> str:
        return (f"LoadedImage(source={self.source!r}, rgb={array_summary(self.rgb)}, "
                f"tensor={array_summary(self.tensor)}, crop={self.geometry.crop_in_photo()})")

    @property
    def input_rgb(self) -> np.ndarray:
        """The model's input crop as ``[crop, crop, 3]`` uint8 RGB (what the attribution refers to)."""
        g = self.geometry
        resized = Image.fromarray(self.rgb).resize((g.resized_width, g.resized_height), Image.Resampling.BILINEAR)
        return np.asarray(resized)[g.top : g.top + g.crop, g.left : g.left + g.crop]


def read_rgb(source: ImageSource, *, corrupt: CorruptPolicy = "raise") -> tuple[np.ndarray, str]:
    """Any image file, PIL image or array → ``[H, W, 3]`` uint8 RGB, with a name for messages.

    ``corrupt`` and the value rules for arrays are those of :func:`load_image`.
    """
    if corrupt not in _POLICIES:
        raise OptionError(f"corrupt must be one of {_POLICIES}; got {corrupt!r}")
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source), "<array>"
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source, "<PIL image>"), "<PIL image>"
    if not isinstance(source, (str, os.PathLike)):
        raise ImageError(f"expected a path, a numpy array or a PIL image; got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # Huge photos are welcome here; PIL's decompression-bomb guard still stops absurd ones.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                rgb, is_jpeg = _pil_to_rgb(img, str(path)), img.format == "JPEG"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from exc
    if is_jpeg and corrupt != "ignore":
        damage = jpeg_damage(path.read_bytes())
        if damage is not None:
            message = f"{path}: corrupt JPEG data, decoded with garbage in the damaged part (libjpeg: {damage})"
            if corrupt == "raise":
                raise ImageError(f"{message}; pass corrupt='warn' to use it anyway")
            warnings.warn(message, ImageWarning, stacklevel=3)
    return rgb, str(path)


def _pil_to_rgb(img: Image.Image, name: str) -> np.ndarray:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
        return _array_to_rgb((arr / peak * 255).round().clip(0, 255).astype(np.uint8))
    if img.mode == "F":
        return _array_to_rgb(np.asarray(img))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels are shown on white, as image viewers do.
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """Gray, RGB or RGBA arrays → uint8 RGB, by the value rules of :func:`load_image`."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"expected an [H, W], [H, W, 3] or [H, W, 4] image array; got shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.bool_:
        out = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        out = _float_to_uint8(arr)
    elif np.issubdtype(arr.dtype, np.integer):
        out = _integer_to_uint8(arr)
    else:
        raise ImageError(f"unsupported image dtype {arr.dtype}")
    if out.shape[2] == 4:
        alpha = out[..., 3:4].astype(np.float64) / 255
        out = (out[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(out)


#: Float values this close outside [0, 1] still round to 0 or 255 (half an 8-bit step): resampling noise.
_FLOAT_SLACK = 0.5 / 255


def _float_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] → 0..255; whole numbers in 0..255 (8-bit values kept in a float array) → as they
    are; anything else is refused with the range found (clipping it would silently whiten the photo)."""
    # torch takes native byte order and at most float64 (FITS and some TIFFs are big-endian).
    native = np.float64 if arr.dtype.itemsize > 8 else arr.dtype.newbyteorder("=")
    check_finite(torch.from_numpy(np.ascontiguousarray(arr, dtype=native)), "image array", error=ImageError)
    low, high = float(arr.min()), float(arr.max())
    if low >= -_FLOAT_SLACK and high <= 1 + _FLOAT_SLACK:
        return (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    if low >= 0 and high <= 255 and bool((arr == np.round(arr)).all()):
        return arr.astype(np.uint8)
    raise ImageError(
        f"float image values must lie in [0, 1] (or be whole numbers in 0..255); found [{low:g}, {high:g}]"
    )


def _integer_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Integers up to 255 are 8-bit values; up to 65535, 16-bit values (uint16 always is, whatever its
    largest value, as a 16-bit PNG is); negative or larger values are refused with the range found."""
    low, high = int(arr.min()), int(arr.max())
    if low < 0 or high > 65535:
        raise ImageError(f"integer image values must lie in 0..255 (8-bit) or 0..65535 (16-bit); found "
                         f"[{low}, {high}] ({arr.dtype})")
    if arr.dtype == np.uint16 or high > 255:
        return (arr.astype(np.float64) / 257).round().astype(np.uint8)
    return arr.astype(np.uint8)


def preprocess(rgb: np.ndarray, preprocessing: Preprocessing) -> tuple[torch.Tensor, Geometry]:
    """Resize the shorter side, centre-crop, normalise: ``[1, 3, crop, crop]`` and its geometry."""
    height, width = rgb.shape[:2]
    scale = preprocessing.resize / min(height, width)
    # The shorter side becomes exactly ``resize`` (>= crop), so the crop always fits.
    size = (max(preprocessing.resize, round(width * scale)), max(preprocessing.resize, round(height * scale)))
    resized = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling[preprocessing.interpolation.upper()]))
    left, top = (size[0] - preprocessing.crop) // 2, (size[1] - preprocessing.crop) // 2
    crop = resized[top : top + preprocessing.crop, left : left + preprocessing.crop]
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255)
    geometry = Geometry(width, height, size[0], size[1], left, top, preprocessing.crop)
    return preprocessing.normalise(x).unsqueeze(0), geometry


def load_image(
    source: ImageSource,
    model: torch.nn.Module | Preprocessing | None = None,
    *,
    corrupt: CorruptPolicy = "raise",
) -> LoadedImage:
    """Read a photo and preprocess it for ``model``.

    Parameters
    ----------
    source
        A file path, a PIL image, or an array ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]`` (RGBA is shown on
        white). Array values: uint8 as they are; bool as black/white; other integers up to 255 as 8-bit
        values, up to 65535 as 16-bit values (scaled by 1/257; uint16 always); floats in ``[0, 1]``, or
        whole numbers in 0..255 kept in a float array (``np.asarray(photo, dtype=float)``), which are read
        as 8-bit values. Anything else (negative values, floats such as 0.5..300, NaN) is refused, not
        clipped. Grayscale, palette, RGBA, 16-bit and EXIF-rotated files are handled.
    corrupt
        What to do with a JPEG file whose compressed data is damaged (libjpeg reports "Corrupt JPEG
        data"; the decoder would fill the damage with garbage): ``"raise"`` (default) an
        :class:`~attribkit.ImageError`, ``"warn"`` an :class:`~attribkit.ImageWarning` and go on with what
        was decoded, ``"ignore"``.
    model
        The model whose :class:`~attribkit.ModelInfo` says how to preprocess (or a
        :class:`~attribkit.Preprocessing`; ``None`` uses torchvision's ImageNet conventions).

    Returns
    -------
    LoadedImage
        ``.tensor`` is ``[1, 3, H, W]`` for the model; ``.rgb`` keeps the original photo.

    Raises
    ------
    ImageError
        The file is missing, corrupt or not an image (the message names the file), or an array's values
        are outside the ranges above (the message gives the range found).

    Warns
    -----
    ImageWarning
        Damaged JPEG data with ``corrupt="warn"``.

    Example
    -------
    >>> from skimage.data import chelsea
    >>> load_image(chelsea()).tensor.shape
    torch.Size([1, 3, 224, 224])
    """
    if isinstance(model, Preprocessing):
        preprocessing = model
    elif model is None:
        preprocessing = Preprocessing()
    else:
        preprocessing = model_info(model).preprocessing
    rgb, name = read_rgb(source, corrupt=corrupt)
    tensor, geometry = preprocess(rgb, preprocessing)
    return LoadedImage(tensor, rgb, geometry, name)
