"""attribkit-captum: Captum's attribution methods as attribkit attributors (names ``captum:*``).

The method classes are imported on first access, so loading the plugin does not import Captum.

Example
-------
>>> import attribkit
>>> ig = attribkit.create_attributor("captum:integrated_gradients", model, n_steps=32)  # doctest: +SKIP
>>> cam = attribkit.create_attributor("captum:gradcam", model, layer="layer4")         # doctest: +SKIP

SmoothGrad, VarGrad and 10-crop averaging are attribkit's wrappers, for these methods as for any other:
``attribkit.create_attributor("captum:input_x_gradient", model, smoothgrad=25)``.
"""

from __future__ import annotations

import importlib
from typing import Any

from attribkit_captum._layers import LayerError, default_layer_name, find_layer

_LAZY = {
    "CaptumAttributor": "attribkit_captum._bridge",
    "CaptumGradCam": "attribkit_captum._methods",
    "CaptumInputXGradient": "attribkit_captum._methods",
    "CaptumIntegratedGradients": "attribkit_captum._methods",
    "CaptumOcclusion": "attribkit_captum._methods",
}

__all__ = sorted([*_LAZY, "LayerError", "default_layer_name", "find_layer"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attribkit_captum' has no attribute {name!r}")
