"""Models: the default offline ImageNet classifier, torchvision architectures, and model metadata."""

from attribkit.models._info import ModelInfo, Preprocessing, attach_info, imagenet_classes, model_info
from attribkit.models._load import DEFAULT_MODEL, ModelError, available_models, load_model

__all__ = [
    "DEFAULT_MODEL",
    "ModelError",
    "ModelInfo",
    "Preprocessing",
    "attach_info",
    "available_models",
    "imagenet_classes",
    "load_model",
    "model_info",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.models", globals(), __all__)
