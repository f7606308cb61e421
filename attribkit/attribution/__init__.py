"""Attribution: the gradient engine every gradient-like method shares, and the paper's saliency map.

Example
-------
>>> from attribkit.attribution import GradientAttributor, saliency_map
"""

from attribkit.attribution._gradient import GradientAttributor, saliency_map

__all__ = ["GradientAttributor", "saliency_map"]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.attribution", globals(), __all__)
