"""Built-in plugin ``saliency``: image-specific class saliency (Simonyan et al. 2013, section 3).

The attribution is ``w = dS_c/dI`` evaluated at the image ``I_0``, where ``S_c`` is the *unnormalised*
class score; :func:`attribkit.saliency_map` turns it into the paper's map ``max_c |w|``.
"""

from __future__ import annotations

from attribkit.attribution import GradientAttributor
from attribkit.hookspecs import Registrar, hookimpl


class Saliency(GradientAttributor):
    """The plain input gradient of the class score: one forward, one (batched) backward pass."""


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "saliency",
        Saliency,
        description="gradient of the unnormalised class score w.r.t. the input (paper section 3)",
    )
