"""Attribution: the gradient engine every gradient-like method shares, the paper's saliency map, Grad-CAM,
the averaging wrappers that go around any attributor (10 crops, SmoothGrad, VarGrad, multi-scale), and
the base for methods that explain one class per call (:class:`PerClassAttributor`).

Example
-------
>>> from attribkit.attribution import GradientAttributor, SmoothGrad, TenCrop, saliency_map
"""

from attribkit._core.scored import Scored, attribute_scored, can_score
from attribkit.attribution._averaging import AVERAGING_OPTIONS, Averaging, AveragingOptions
from attribkit.attribution._cam import GradCAM, find_layer
from attribkit.attribution._cam_layers import FeatureLayout, default_layer_name, feature_layout, prefix_tokens
from attribkit.attribution._compose import create_attributor, with_averaging
from attribkit.attribution._gradient import GradientAttributor, saliency_map
from attribkit.attribution._noise import SmoothGrad, VarGrad
from attribkit.attribution._per_class import Explainer, PerClassAttributor
from attribkit.attribution._scales import MultiScale
from attribkit.attribution._tencrop import TenCrop

__all__ = [
    "AVERAGING_OPTIONS",
    "Averaging",
    "AveragingOptions",
    "Explainer",
    "FeatureLayout",
    "GradCAM",
    "GradientAttributor",
    "MultiScale",
    "PerClassAttributor",
    "Scored",
    "SmoothGrad",
    "TenCrop",
    "VarGrad",
    "attribute_scored",
    "can_score",
    "create_attributor",
    "default_layer_name",
    "feature_layout",
    "find_layer",
    "prefix_tokens",
    "saliency_map",
    "with_averaging",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.attribution", globals(), __all__)
