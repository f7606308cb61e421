"""attribkit-gradcam: pytorch-grad-cam's class-activation maps as attribkit attributors (names ``pgc:*``).

The method classes are imported on first access, so loading the plugin does not import the library.

Example
-------
>>> import attribkit
>>> cam = attribkit.create_attributor("pgc:gradcampp", model, layer="layer4")      # doctest: +SKIP
>>> score = attribkit.create_attributor("pgc:scorecam", model, batch_size=64)      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PgcAttributor": "attribkit_gradcam._bridge",
    "PgcEigenCAM": "attribkit_gradcam._methods",
    "PgcGradCAM": "attribkit_gradcam._methods",
    "PgcGradCAMPlusPlus": "attribkit_gradcam._methods",
    "PgcHiResCAM": "attribkit_gradcam._methods",
    "PgcLayerCAM": "attribkit_gradcam._methods",
    "PgcScoreCAM": "attribkit_gradcam._methods",
    "PgcXGradCAM": "attribkit_gradcam._methods",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attribkit_gradcam' has no attribute {name!r}")
