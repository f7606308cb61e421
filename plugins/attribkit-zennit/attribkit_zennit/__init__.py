"""attribkit-zennit: Zennit's LRP composites as attribkit attributors (names ``zennit:*``).

The classes are imported on first access, so loading the plugin does not import Zennit.

Example
-------
>>> import attribkit
>>> lrp = attribkit.create_attributor("zennit:epsilon_plus_flat", model)   # doctest: +SKIP
>>> relevance = lrp.attribute(x, target=285)                               # [N, 3, H, W]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CANONIZERS": "attribkit_zennit._canonizers",
    "ZennitAttributor": "attribkit_zennit._bridge",
    "ZennitEpsilonAlpha2Beta1": "attribkit_zennit._methods",
    "ZennitEpsilonPlus": "attribkit_zennit._methods",
    "ZennitEpsilonPlusFlat": "attribkit_zennit._methods",
    "canonizers_for": "attribkit_zennit._canonizers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attribkit_zennit' has no attribute {name!r}")
