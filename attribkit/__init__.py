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

from attribkit._core.guards import check_inputs, check_model, frozen
from attribkit._core.interfaces import Attributor, Box, Localisation, Localiser, TargetType, Visualiser
from attribkit._core.outputs import class_scores, set_output
from attribkit._core.registry import (
    PluginInfo,
    Registration,
    Registry,
    build_registry,
    create_localiser,
    create_visualiser,
    get_registry,
    list_attributors,
    list_localisers,
    list_visualisers,
    reset_registry,
    set_registry,
)
from attribkit._core.targets import resolve_targets
from attribkit.attribution import (
    GradientAttributor,
    MultiScale,
    SmoothGrad,
    TenCrop,
    VarGrad,
    create_attributor,
    saliency_map,
    with_averaging,
)
from attribkit.data import Geometry, LoadedImage, load_image, read_rgb
from attribkit.errors import (
    AnnotationError,
    AttribkitError,
    AttribkitWarning,
    ImageError,
    ImageWarning,
    InputError,
    ModelError,
    ModelInUseError,
    OptionError,
    PluginConflictWarning,
    PluginError,
    TargetError,
    UnknownMethodError,
)
from attribkit.hookspecs import Registrar, hookimpl
from attribkit.localisation import LocalisedClass, SaliencyMaps, localise, saliency
from attribkit.models import (
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
    "AnnotationError",
    "AttribkitError",
    "AttribkitWarning",
    "Attributor",
    "Box",
    "Geometry",
    "GradientAttributor",
    "ImageError",
    "ImageWarning",
    "InputError",
    "LoadedImage",
    "Localisation",
    "LocalisedClass",
    "Localiser",
    "ModelError",
    "ModelInUseError",
    "ModelInfo",
    "MultiScale",
    "OptionError",
    "PluginConflictWarning",
    "PluginError",
    "PluginInfo",
    "Preprocessing",
    "Registrar",
    "Registration",
    "Registry",
    "SaliencyMaps",
    "SmoothGrad",
    "TargetError",
    "TargetType",
    "TenCrop",
    "UnknownMethodError",
    "VarGrad",
    "Visualiser",
    "attach_info",
    "available_models",
    "build_registry",
    "check_inputs",
    "check_model",
    "class_scores",
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
    "saliency",
    "saliency_map",
    "set_output",
    "set_registry",
    "with_averaging",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit", globals(), __all__)
