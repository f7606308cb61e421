"""Built-in baseline localisers ``threshold`` and ``centre``, for comparing against ``graphcut``.

``threshold`` is what CAM-style papers do (Zhou et al. 2016: the largest connected component of the
map above 20% of its maximum); ``centre`` looks at nothing and answers a centred box: on ImageNet,
where objects are large and centred, it is a strong baseline any method must beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attribkit import Localisation
from attribkit.errors import ImageError, OptionError
from attribkit.localisation import box_mask, is_flat, largest_component, mask_box, photo_map, smooth, whole_image
from attribkit.hookspecs import Registrar, hookimpl


@dataclass(frozen=True)
class Threshold:
    """Box of the largest connected component of ``map >= min + fraction * (max - min)`` (Zhou et al.
    2016, "Learning deep features for discriminative localization", section 4.1: 20% of the maximum).

    ``blur`` smooths the map first (sigma as a fraction of its shorter side); ``component="all"`` boxes
    every pixel above the threshold instead of the largest component. A map with no information (all
    equal, or nothing finite) gives the whole image, with ``fallback="flat map"``.
    """

    fraction: float = 0.2
    blur: float = 0.0
    component: str = "largest"

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise OptionError(f"fraction must be in [0, 1]; got {self.fraction}")
        if self.component not in ("largest", "all"):
            raise OptionError(f"component must be 'largest' or 'all'; got {self.component!r}")

    def localise(self, image: np.ndarray, saliency: np.ndarray | torch.Tensor) -> Localisation:
        m = smooth(photo_map(image, saliency), self.blur)
        height, width = m.shape
        if is_flat(m):
            return whole_image(height, width)
        known = np.nan_to_num(m, nan=-np.inf)
        lo, hi = np.nanmin(m), np.nanmax(m)
        # Relative to the map's range, so a map with an offset (all values > 0) still thresholds.
        mask = known >= lo + self.fraction * (hi - lo)
        if self.component == "largest":
            mask = largest_component(mask)
        return Localisation(mask, mask_box(mask))


@dataclass(frozen=True)
class Centre:
    """A centred box covering ``area`` of the image (sides scaled by ``sqrt(area)``); ignores the map."""

    area: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.area <= 1.0:
            raise OptionError(f"area must be in (0, 1]; got {self.area}")

    def localise(self, image: np.ndarray, saliency: np.ndarray | torch.Tensor | None = None) -> Localisation:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise ImageError(f"image must be a non-empty [H, W, 3] array; got shape {image.shape}")
        height, width = image.shape[:2]
        side = np.sqrt(self.area)
        w, h = max(1, round(width * side)), max(1, round(height * side))
        x0, y0 = (width - w) // 2, (height - h) // 2
        box = (x0, y0, x0 + w, y0 + h)
        return Localisation(box_mask(box, height, width), box)


#: What ``attribkit.localise(..., preset=NAME)`` asks of the threshold localiser (chosen by 5-fold
#: cross-validation on the 500 ILSVRC dev photos; docs/localisation.md).
PRESETS: dict[str, dict[str, Any]] = {
    # Zhou et al. 2016: the largest component above 20% of the maximum, on the raw map.
    "paper": {"fraction": 0.2, "blur": 0.0, "component": "largest"},
    "default": {"fraction": 0.2, "blur": 0.0, "component": "largest"},
    "gradient": {"fraction": 0.2, "blur": 0.0, "component": "all"},
}


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_localiser(
        "threshold",
        Threshold,
        description="largest connected component of the map above a fraction of its range (CAM-style)",
        presets=PRESETS,
    )
    registry.add_localiser("centre", Centre, description="a centred box of a given area; ignores the map")
