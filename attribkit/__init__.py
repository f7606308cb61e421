"""attribkit: explain PyTorch image classifiers, after Simonyan, Vedaldi & Zisserman (2013).

Methods are plugins found through the entry-point group ``attribkit``: list them with
:func:`list_attributors`, :func:`list_visualisers` and :func:`list_localisers`, build them with the
matching ``create_*`` verb.

Example
-------
>>> import attribkit
>>> model = attribkit.load_model()                                   # doctest: +SKIP
>>> image = attribkit.load_image("cat.jpg", model)                   # doctest: +SKIP
>>> grads = attribkit.create_attributor("saliency", model).attribute(image.tensor)  # doctest: +SKIP
>>> attribkit.saliency_map(grads).shape                              # doctest: +SKIP
torch.Size([1, 224, 224])
"""

from attribkit._checks import check_inputs, check_model
from attribkit._gradient import GradientAttributor, saliency_map
from attribkit._image import Geometry, ImageError, LoadedImage, load_image, read_rgb
from attribkit._interfaces import Attributor, Box, Localisation, Localiser, TargetType, Visualiser
from attribkit._localise import LocalisedClass, localise
from attribkit._modes import frozen
from attribkit._registry import (
    PluginConflictWarning,
    PluginError,
    PluginInfo,
    Registrar,
    Registration,
    Registry,
    UnknownMethodError,
    build_registry,
    create_attributor,
    create_localiser,
    create_visualiser,
    get_registry,
    list_attributors,
    list_localisers,
    list_visualisers,
    reset_registry,
)
from attribkit._targets import TargetError, resolve_targets
from attribkit.hookspecs import hookimpl
from attribkit.models import (
    ModelError,
    ModelInfo,
    Preprocessing,
    attach_info,
    available_models,
    imagenet_classes,
    load_model,
    model_info,
)

__version__ = "0.1.0"

__all__ = [
    "Attributor",
    "Box",
    "Geometry",
    "GradientAttributor",
    "ImageError",
    "LoadedImage",
    "Localisation",
    "LocalisedClass",
    "Localiser",
    "ModelError",
    "ModelInfo",
    "PluginConflictWarning",
    "PluginError",
    "PluginInfo",
    "Preprocessing",
    "Registrar",
    "Registration",
    "Registry",
    "TargetError",
    "TargetType",
    "UnknownMethodError",
    "Visualiser",
    "attach_info",
    "available_models",
    "build_registry",
    "check_inputs",
    "check_model",
    "create_attributor",
    "create_localiser",
    "create_visualiser",
    "frozen",
    "get_registry",
    "hookimpl",
    "imagenet_classes",
    "list_attributors",
    "list_localisers",
    "list_visualisers",
    "load_image",
    "load_model",
    "localise",
    "model_info",
    "read_rgb",
    "reset_registry",
    "resolve_targets",
    "saliency_map",
]
