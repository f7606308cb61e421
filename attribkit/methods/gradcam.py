"""Built-in plugin ``gradcam``: Grad-CAM (Selvaraju et al. 2017), the map of the default localisation.

Not one of the paper's methods: it is here because the default localisation pipeline needs class maps
that cover the object, and on the 500 ILSVRC dev photos Grad-CAM's do far more often than input
gradients (docs/localisation.md). The implementation is :class:`attribkit.attribution.GradCAM`; the
Captum bridge's ``captum:gradcam`` gives the same maps (tested).
"""

from __future__ import annotations

from attribkit.attribution import GradCAM
from attribkit.hookspecs import Registrar, hookimpl


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "gradcam",
        GradCAM,
        description="Grad-CAM: a layer's feature maps weighted by their mean score gradient, ReLU, upsampled "
                    "(Selvaraju et al. 2017)",
    )
