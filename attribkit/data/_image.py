"""Reading photos into a model's input space, and the geometry that maps results back onto the photo."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from attribkit._core.inputs import check_finite
from attribkit._core.reprs import array_summary
from attribkit.data._jpeg import jpeg_damage
from attribkit.errors import ImageError, ImageWarning
from attribkit.models._info import Preprocessing, model_info

ImageSource = Union[str, os.PathLike, np.ndarray, Image.Image]
CorruptPolicy = Literal["raise", "warn", "ignore"]
_POLICIES = ("raise", "warn", "ignore")


#: The most pixels attribkit keeps of a photo (:attr:`LoadedImage.rgb`, the maps on the photo, the masks,
#: GraphCut's work): a larger photo is kept as a copy scaled down to this many pixels (a 4:3 photo of
#: 48 Mpx becomes 2309 × 1732), and its boxes are mapped back to the photo's own pixels. The model's input
#: is cut from the photo itself, not from the copy.
MAX_PHOTO_PIXELS = 4_000_000


@dataclass(frozen=True)
class Geometry:
    """How the model's input crop sits in the photo, and the photo's kept copy in the photo file.

    The photo (``source_width`` × ``source_height``, its own pixels) was resized to ``resized_width`` ×
    ``resized_height`` and a ``crop`` × ``crop`` square was cut at ``(left, top)`` of the resized photo.
    ``width`` × ``height`` is the copy attribkit keeps (:attr:`LoadedImage.rgb`): the photo itself, or,
    above :data:`MAX_PHOTO_PIXELS`, the photo scaled down. Coordinates follow :data:`attribkit.Box`;
    "photo pixels" below are the kept copy's.
    """

    width: int
    height: int
    resized_width: int
    resized_height: int
    left: int
    top: int
    crop: int
    source_width: int = 0
    """The photo file's own width (0: ``width``, the copy is the photo)."""
    source_height: int = 0
    """The photo file's own height (0: ``height``)."""

    def __post_init__(self) -> None:
        if not self.source_width or not self.source_height:
            object.__setattr__(self, "source_width", self.width)
            object.__setattr__(self, "source_height", self.height)

    def to_source(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """A box in the kept copy's pixels → the photo file's own pixels (outward to whole pixels, clipped).

        The identity when the copy is the photo."""
        sx, sy = self.source_width / self.width, self.source_height / self.height
        return (
            max(0, int(np.floor(box[0] * sx + 1e-9))),
            max(0, int(np.floor(box[1] * sy + 1e-9))),
            min(self.source_width, int(np.ceil(box[2] * sx - 1e-9))),
            min(self.source_height, int(np.ceil(box[3] * sy - 1e-9))),
        )

    def from_source(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box in the photo file's own pixels (an annotation) → the kept copy's pixels (not rounded; the
        box itself when the copy is the photo)."""
        if (self.source_width, self.source_height) == (self.width, self.height):
            return tuple(box)  # type: ignore[return-value]
        sx, sy = self.width / self.source_width, self.height / self.source_height
        # Rounded so that the photo's own edge lands on the copy's edge, not a hair beyond it.
        return (round(box[0] * sx, 6), round(box[1] * sy, 6), round(box[2] * sx, 6), round(box[3] * sy, 6))

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
        The photo as ``[H, W, 3]`` uint8 RGB (EXIF orientation applied): the photo itself, or, when it has
        more than :data:`MAX_PHOTO_PIXELS` pixels, a copy scaled down to that many (``geometry`` gives both
        sizes; boxes are mapped back to the photo's own pixels with :meth:`Geometry.to_source`).
    geometry
        Where the input crop sits in ``rgb``, and ``rgb`` in the photo.
    source
        The file it came from, or ``"<array>"``.
    """

    tensor: torch.Tensor
    rgb: np.ndarray
    geometry: Geometry
    source: str
    crop_rgb: np.ndarray | None = None
    """The model's input crop as ``[crop, crop, 3]`` uint8, cut from the photo itself (see ``input_rgb``)."""

    def __repr__(self) -> str:
        return (f"LoadedImage(source={self.source!r}, rgb={array_summary(self.rgb)}, "
                f"tensor={array_summary(self.tensor)}, crop={self.geometry.crop_in_photo()})")

    @property
    def input_rgb(self) -> np.ndarray:
        """The model's input crop as ``[crop, crop, 3]`` uint8 RGB (what the attribution refers to)."""
        if self.crop_rgb is not None:
            return self.crop_rgb
        g = self.geometry
        return _cut(Image.fromarray(self.rgb), g, Image.Resampling.BILINEAR,
                    g.width / g.source_width, g.height / g.source_height)


def read_rgb(source: ImageSource, *, corrupt: CorruptPolicy = "raise") -> tuple[np.ndarray, str]:
    """Any image file, PIL image or array → ``[H, W, 3]`` uint8 RGB at its own size, with a name for
    messages.

    ``corrupt`` and the value rules for arrays are those of :func:`load_image`.
    """
    rgb, name, _, _ = _decode(source, corrupt, None)
    return rgb, name


#: ``(width, height)`` of a photo → the smallest scale of it that is still needed (at most 1).
Needed = Callable[[int, int], float]


def _decode(source: ImageSource, corrupt: CorruptPolicy,
            needed: Needed | None) -> tuple[np.ndarray, str, float, tuple[int, int]]:
    """:func:`read_rgb`, and for a JPEG file that ``needed`` allows at half its size or less, decoded by
    libjpeg's DCT scaling at 1/2, 1/4 or 1/8 (never below the scale needed): the RGB, the name, the scale
    it was decoded at (decoded pixels per photo pixel, 1 for full size) and the photo's own ``(width,
    height)``, EXIF orientation applied."""
    if corrupt not in _POLICIES:
        raise ValueError(f"corrupt must be one of {_POLICIES}; got {corrupt!r}")
    if isinstance(source, (np.ndarray, Image.Image)):
        rgb = _array_to_rgb(source) if isinstance(source, np.ndarray) else _pil_to_rgb(source, "<PIL image>")
        return rgb, "<array>" if isinstance(source, np.ndarray) else "<PIL image>", 1.0, (rgb.shape[1], rgb.shape[0])
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
                raw, scale = img.size, 1.0
                # EXIF orientations 5-8 turn the photo a quarter: its width is the file's height.
                full = raw[::-1] if img.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8) else raw
                wanted = 1.0 if needed is None or img.format != "JPEG" else needed(*full)
                if wanted <= 0.5:
                    drafted = img.draft(None, (max(1, math.ceil(raw[0] * wanted)), max(1, math.ceil(raw[1] * wanted))))
                    if drafted is not None:
                        scale = drafted[1][2] / raw[0]  # libjpeg's 1/1, 1/2, 1/4 or 1/8
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
            warnings.warn(message, ImageWarning, stacklevel=4)
    return rgb, str(path), scale, full


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
    tensor, _, _, geometry = _prepare(rgb, rgb.shape[1], rgb.shape[0], 1.0, preprocessing)
    return tensor, geometry


def _needed_scale(width: int, height: int, preprocessing: Preprocessing) -> float:
    """The smallest scale of a ``width`` × ``height`` photo that both the model's resize and the kept copy
    need (1: the photo's own size)."""
    return min(1.0, max(preprocessing.resize / min(width, height), _keep_scale(width, height)))


def _keep_scale(width: int, height: int) -> float:
    return min(1.0, math.sqrt(MAX_PHOTO_PIXELS / (width * height)))


def _prepare(decoded: np.ndarray, width: int, height: int, scale: float,
             preprocessing: Preprocessing) -> tuple[torch.Tensor, np.ndarray, np.ndarray, Geometry]:
    """A ``width`` × ``height`` photo, decoded at ``scale`` of its size → the model's input, its crop as
    uint8, the kept copy (at most :data:`MAX_PHOTO_PIXELS`) and the geometry.

    Only the region of the crop is resized (a 20000 × 4 photo is not first resized to 1280000 × 256), by the
    same filter and the same pixel centres as resizing the whole photo and cutting the crop out."""
    resize = preprocessing.resize / min(height, width)
    # The shorter side becomes exactly ``resize`` (>= crop), so the crop always fits.
    size = (max(preprocessing.resize, round(width * resize)), max(preprocessing.resize, round(height * resize)))
    left, top = (size[0] - preprocessing.crop) // 2, (size[1] - preprocessing.crop) // 2
    keep = _keep_scale(width, height)
    kept_size = (max(1, round(width * keep)), max(1, round(height * keep)))
    geometry = Geometry(*kept_size, size[0], size[1], left, top, preprocessing.crop, width, height)
    image = Image.fromarray(decoded)
    crop = _cut(image, geometry, Image.Resampling[preprocessing.interpolation.upper()], scale, scale)
    if kept_size == (decoded.shape[1], decoded.shape[0]):
        kept = decoded
    else:
        kept = np.asarray(image.resize(kept_size, Image.Resampling.BILINEAR, reducing_gap=3.0))
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255)
    return preprocessing.normalise(x).unsqueeze(0), crop, kept, geometry


def _cut(image: Image.Image, g: Geometry, resample: Image.Resampling, fx: float, fy: float) -> np.ndarray:
    """The model's ``crop`` × ``crop`` input, resized from ``image``, which holds the photo at ``fx``, ``fy``
    of its own size: the crop's region, mapped into ``image``, resized alone."""
    sx, sy = fx * g.source_width / g.resized_width, fy * g.source_height / g.resized_height
    box = (g.left * sx, g.top * sy, (g.left + g.crop) * sx, (g.top + g.crop) * sy)
    return np.array(image.resize((g.crop, g.crop), resample, box=box))  # writable, for torch


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
    decoded, name, scale, (width, height) = _decode(source, corrupt, lambda w, h: _needed_scale(w, h, preprocessing))
    tensor, crop, kept, geometry = _prepare(decoded, width, height, scale, preprocessing)
    return LoadedImage(tensor, kept, geometry, name, crop)
