"""The three interfaces a plugin implements, and the result type of localisation.

They are :class:`typing.Protocol` classes: a plugin needs no attribkit base class, only the methods.
``isinstance(obj, Attributor)`` works (runtime-checkable) for the method names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np
import torch

#: What ``attribute(target=...)`` accepts: ``None`` (the model's top-1), one class for every image, one
#: class per image (sequence or tensor ``[N]``), or K classes per image (tensor or nested list ``[N, K]``).
TargetType = Union[None, int, Sequence[int], Sequence[Sequence[int]], torch.Tensor]

#: ``(x0, y0, x1, y1)`` in pixel coordinates of the image it refers to. Pixel ``(row i, col j)`` covers
#: ``[j, j+1) x [i, i+1)``, so the box of a mask is ``(min col, min row, max col + 1, max row + 1)``.
Box = tuple[int, int, int, int]


@runtime_checkable
class Attributor(Protocol):
    """Input → attribution (paper section 3 and its relatives).

    Built by ``create_attributor(name, model, **options)``.
    """

    model: torch.nn.Module

    def attribute(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> torch.Tensor:
        """Attributions for ``inputs`` ``[N, C, H, W]``.

        Returns ``[N, C, H, W]`` for a single target per image (``None``, an int, or ``[N]``) and
        ``[N, K, C, H, W]`` for ``[N, K]`` targets or ``top_k=K``.
        """
        ...


@runtime_checkable
class Visualiser(Protocol):
    """Class → image (paper section 2). Built by ``create_visualiser(name, model, **options)``."""

    model: torch.nn.Module

    def visualise(self, target: int | Sequence[int], **options: Any) -> torch.Tensor:
        """Images ``[K, 3, H, W]``, displayable RGB in ``[0, 1]``, one per target class."""
        ...


@dataclass(frozen=True)
class Localisation:
    """A localiser's answer for one image: a foreground mask and its bounding box."""

    mask: np.ndarray
    """Boolean ``[H, W]`` foreground, in the pixel grid of the image that was localised."""
    box: Box | None
    """``(x0, y0, x1, y1)`` of the mask, or ``None`` when nothing was found."""
    fallback: str | None = None
    """Why the localiser did not localise as designed (``"flat map"``, ``"no seeds"``, ...), when it fell
    back to a documented answer such as the whole image; ``None`` when it did not."""


@runtime_checkable
class Localiser(Protocol):
    """Image + saliency → mask and box (paper section 4). Built by ``create_localiser(name, **options)``."""

    def localise(self, image: np.ndarray, saliency: np.ndarray | torch.Tensor) -> Localisation:
        """Localise in ``image`` (``[H, W, 3]`` uint8 RGB) given a saliency map ``[h, w]``."""
        ...
