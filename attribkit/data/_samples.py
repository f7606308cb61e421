"""Real photos shipped by scikit-image, scikit-learn and matplotlib: usable offline for demos and tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from attribkit.errors import UnknownNameError, close_matches, did_you_mean


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)())


def _sklearn_photo(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image(f"{name}.jpg"))


# Partials of module-level functions, not closures: they pickle, so a study's loader processes can read
# the sample photos themselves (attribkit.study._loader).
def _skimage(name: str) -> Callable[[], np.ndarray]:
    return partial(_skimage_photo, name)


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    return partial(_sklearn_photo, name)


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


#: name -> loader of an ``[H, W, 3]`` uint8 RGB photo.
SAMPLE_PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "china": _sklearn("china"),
    "flower": _sklearn("flower"),
    "grace_hopper": _grace_hopper,
}


def sample_photo(name: str) -> np.ndarray:
    """One of :data:`SAMPLE_PHOTOS` as ``[H, W, 3]`` uint8 RGB.

    Raises
    ------
    UnknownNameError
        ``name`` is not a sample photo (close names suggested; a ``KeyError`` too).
    """
    check_sample_names([name])
    return SAMPLE_PHOTOS[name]()


def check_sample_names(names: list[str]) -> None:
    """:class:`~attribkit.errors.UnknownNameError` naming the first name that is not a sample photo, with
    close names suggested (``cofee`` → ``coffee``)."""
    for name in names:
        if name not in SAMPLE_PHOTOS:
            hint = did_you_mean(close_matches(name, SAMPLE_PHOTOS))
            raise UnknownNameError(f"unknown sample photo {name!r}.{hint} Known: {', '.join(SAMPLE_PHOTOS)}.")
