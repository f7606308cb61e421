"""Class model visualisation (paper section 2) and the image priors that came after it."""

from attribkit.visualise._ascent import MODES, Ascent, AscentSettings, ClassModel, settings_for
from attribkit.visualise._parametrisation import FourierImage, Parametrisation, PixelImage
from attribkit.visualise._regularisers import (
    clip_small_contribution,
    clip_small_norm,
    gaussian_blur,
    jitter,
    total_variation,
)

__all__ = [
    "MODES",
    "Ascent",
    "AscentSettings",
    "ClassModel",
    "FourierImage",
    "Parametrisation",
    "PixelImage",
    "clip_small_contribution",
    "clip_small_norm",
    "gaussian_blur",
    "jitter",
    "settings_for",
    "total_variation",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.visualise", globals(), __all__)
