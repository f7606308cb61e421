"""How the image being optimised is parametrised: plain pixels (the paper) or a decorrelated spectrum.

A parametrisation owns the tensors the optimiser updates and maps them to the model's input space
(``model_input``) and to displayable RGB in ``[0, 1]`` (``rgb``).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from attribkit.models import Preprocessing

#: Square root of the colour covariance of ImageNet images (an SVD factor), from Lucid
#: (Olah, Mordvintsev & Schubert 2017, ``lucid/optvis/param/color.py``). Optimising in these decorrelated
#: colour coordinates keeps colour channels from fighting each other.
COLOUR_CORRELATION_SVD_SQRT = (
    (0.26, 0.09, 0.02),
    (0.27, 0.00, -0.05),
    (0.27, -0.09, 0.03),
)


class Parametrisation(Protocol):
    """The image batch being optimised."""

    def parameters(self) -> list[torch.Tensor]:
        """The leaf tensors the optimiser updates."""
        ...

    def model_input(self) -> torch.Tensor:
        """``[K, 3, H, W]`` in the model's normalised input space (differentiable)."""
        ...

    def rgb(self) -> torch.Tensor:
        """``[K, 3, H, W]`` displayable RGB in ``[0, 1]`` (detached)."""
        ...


class PixelImage:
    """The paper's parametrisation: the input itself, starting from the zero image.

    Zero in the model's normalised input space *is* the training-set mean image, so "start from zero, add
    the mean back at the end" (paper section 2) is :meth:`rgb`: ``denormalise`` then clip to ``[0, 1]``.
    For models normalised by a per-channel mean/std the "mean image" is that per-channel mean colour.
    """

    def __init__(
        self,
        count: int,
        size: tuple[int, int],
        preprocessing: Preprocessing,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.preprocessing = preprocessing
        self.image = torch.zeros(count, 3, *size, device=device, dtype=dtype, requires_grad=True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.image]

    def model_input(self) -> torch.Tensor:
        return self.image

    def rgb(self) -> torch.Tensor:
        """``[K, 3, H, W]`` displayable RGB in ``[0, 1]`` (detached): the mean added back, then clipped."""
        return self.preprocessing.denormalise(self.image.detach()).clamp(0.0, 1.0)


def _frequency_scale(height: int, width: int, decay_power: float) -> torch.Tensor:
    """``1 / f^decay`` for the rfft2 grid: natural images have a ~1/f amplitude spectrum (Lucid's scale)."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freq = (fx.square() + fy.square()).sqrt()
    return freq.clamp(min=1.0 / max(height, width)).pow(-decay_power) * math.sqrt(height * width)


class FourierImage:
    """Olah et al. (2017): the image as a 1/f-scaled Fourier spectrum in decorrelated colour space.

    ``rgb = sigmoid(C · irfft2(scale ⊙ spectrum) / 4)`` with ``C`` the normalised
    :data:`COLOUR_CORRELATION_SVD_SQRT`; gradient steps on ``spectrum`` are steps that favour low
    frequencies and natural colour statistics, which suppresses the high-frequency patterns plain pixel
    ascent produces. The spectrum starts as small Gaussian noise (standard deviation ``sd``).
    """

    def __init__(
        self,
        count: int,
        size: tuple[int, int],
        preprocessing: Preprocessing,
        *,
        generator: torch.Generator,
        sd: float = 0.01,
        decay_power: float = 1.0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        height, width = size
        self.size = size
        self.preprocessing = preprocessing
        # Drawn on the CPU generator and then moved, so a seed gives the same start on every device.
        init = torch.randn(count, 3, height, width // 2 + 1, 2, generator=generator, dtype=dtype) * sd
        self.spectrum = init.to(device).requires_grad_(True)
        self.scale = _frequency_scale(height, width, decay_power).to(device=device, dtype=dtype)
        colour = torch.tensor(COLOUR_CORRELATION_SVD_SQRT, dtype=dtype)
        self.colour = (colour / colour.norm(dim=0).max()).to(device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def _rgb(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(spectrum, s=self.size) / 4.0
        return torch.einsum("ij,kjhw->kihw", self.colour, decorrelated).sigmoid()

    def model_input(self) -> torch.Tensor:
        return self.preprocessing.normalise(self._rgb())

    def rgb(self) -> torch.Tensor:
        with torch.no_grad():
            return self._rgb()
