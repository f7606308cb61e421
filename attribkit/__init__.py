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

import typing as _typing

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
    PluginLoadWarning,
    TargetError,
    UnknownMethodError,
    UnknownNameError,
)

if _typing.TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and readers
    from attribkit._core.guards import check_inputs, check_model, frozen
    from attribkit._core.interfaces import (
        Attributor,
        Box,
        Localisation,
        Localiser,
        TargetType,
        Visualiser,
    )
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
        PerClassAttributor,
        SmoothGrad,
        TenCrop,
        VarGrad,
        create_attributor,
        saliency_map,
        with_averaging,
    )
    from attribkit.data import (
        MAX_PHOTO_PIXELS,
        Geometry,
        LoadedImage,
        load_image,
        read_rgb,
    )
    from attribkit.hookspecs import Registrar, hookimpl
    from attribkit.localisation import (
        LocalisedClass,
        LocalisedClasses,
        Recipe,
        SaliencyMaps,
        localise,
        saliency,
    )
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
    "LocalisedClasses",
    "Localiser",
    "MAX_PHOTO_PIXELS",
    "ModelError",
    "ModelInUseError",
    "ModelInfo",
    "MultiScale",
    "OptionError",
    "PerClassAttributor",
    "PluginConflictWarning",
    "PluginError",
    "PluginInfo",
    "PluginLoadWarning",
    "Preprocessing",
    "Recipe",
    "Registrar",
    "Registration",
    "Registry",
    "SaliencyMaps",
    "SmoothGrad",
    "TargetError",
    "TargetType",
    "TenCrop",
    "UnknownMethodError",
    "UnknownNameError",
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

# ``import attribkit`` stays cheap (no torch): ``attribkit --help`` and plugins' registration modules
# import the package, and most of them never touch a tensor. Each public name is imported on first use
# (PEP 562) from the module that defines it, and reported as ``attribkit.<name>``.
_LAZY = {
    "Attributor": "attribkit._core.interfaces",
    "Box": "attribkit._core.interfaces",
    "Geometry": "attribkit.data",
    "GradientAttributor": "attribkit.attribution",
    "LoadedImage": "attribkit.data",
    "MAX_PHOTO_PIXELS": "attribkit.data",
    "Localisation": "attribkit._core.interfaces",
    "LocalisedClass": "attribkit.localisation",
    "LocalisedClasses": "attribkit.localisation",
    "Localiser": "attribkit._core.interfaces",
    "ModelInfo": "attribkit.models",
    "MultiScale": "attribkit.attribution",
    "PerClassAttributor": "attribkit.attribution",
    "PluginInfo": "attribkit._core.registry",
    "Preprocessing": "attribkit.models",
    "Recipe": "attribkit.localisation",
    "Registrar": "attribkit.hookspecs",
    "Registration": "attribkit._core.registry",
    "Registry": "attribkit._core.registry",
    "SaliencyMaps": "attribkit.localisation",
    "SmoothGrad": "attribkit.attribution",
    "TargetType": "attribkit._core.interfaces",
    "TenCrop": "attribkit.attribution",
    "VarGrad": "attribkit.attribution",
    "Visualiser": "attribkit._core.interfaces",
    "attach_info": "attribkit.models",
    "available_models": "attribkit.models",
    "build_registry": "attribkit._core.registry",
    "check_inputs": "attribkit._core.guards",
    "check_model": "attribkit._core.guards",
    "class_scores": "attribkit._core.outputs",
    "create_attributor": "attribkit.attribution",
    "create_localiser": "attribkit._core.registry",
    "create_visualiser": "attribkit._core.registry",
    "frozen": "attribkit._core.guards",
    "get_registry": "attribkit._core.registry",
    "hookimpl": "attribkit.hookspecs",
    "imagenet_classes": "attribkit.models",
    "list_attributors": "attribkit._core.registry",
    "list_localisers": "attribkit._core.registry",
    "list_visualisers": "attribkit._core.registry",
    "load_image": "attribkit.data",
    "load_model": "attribkit.models",
    "localise": "attribkit.localisation",
    "model_info": "attribkit.models",
    "read_rgb": "attribkit.data",
    "reset_registry": "attribkit._core.registry",
    "resolve_targets": "attribkit._core.targets",
    "saliency": "attribkit.localisation",
    "saliency_map": "attribkit.attribution",
    "set_output": "attribkit._core.outputs",
    "set_registry": "attribkit._core.registry",
    "with_averaging": "attribkit.attribution",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attribkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    _publish("attribkit", {name: value}, [name])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit", globals(), [n for n in __all__ if n in globals()])
