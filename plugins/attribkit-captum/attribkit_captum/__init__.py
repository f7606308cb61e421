"""attribkit-captum: Captum's attribution methods as attribkit attributors (names ``captum:*``).

Example
-------
>>> import attribkit
>>> ig = attribkit.create_attributor("captum:integrated_gradients", model, n_steps=32)  # doctest: +SKIP
>>> cam = attribkit.create_attributor("captum:gradcam", model, layer="layer4")         # doctest: +SKIP
"""

from attribkit_captum._bridge import CaptumAttributor
from attribkit_captum._layers import LayerError, default_layer_name, find_layer
from attribkit_captum._methods import (
    CaptumGradCam,
    CaptumInputXGradient,
    CaptumIntegratedGradients,
    CaptumOcclusion,
    CaptumSmoothGrad,
)

__all__ = [
    "CaptumAttributor",
    "CaptumGradCam",
    "CaptumInputXGradient",
    "CaptumIntegratedGradients",
    "CaptumOcclusion",
    "CaptumSmoothGrad",
    "LayerError",
    "default_layer_name",
    "find_layer",
]
