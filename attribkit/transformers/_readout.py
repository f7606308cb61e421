"""The classifier applied to a block's tokens: a vision transformer's final norm and head on an
intermediate block's output, the score ``s^l`` LeGrad differentiates (Bousselham et al. 2024, section 3).
Known per family, by qualified class name (found inside wrappers too); the readout of the last block's
output is the model's own logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attribkit.errors import ModelError

Readout = Callable[[torch.Tensor], torch.Tensor]


def _timm(m: Any) -> Readout:
    # forward_head pools as the model does (class token or average; DeiT-distilled averages both heads).
    return lambda tokens: m.forward_head(m.norm(tokens))


def _torchvision(m: Any) -> Readout:
    return lambda tokens: m.heads(m.encoder.ln(tokens)[:, 0])


def _hf(backbone: str) -> Callable[[Any], Readout]:
    return lambda m: (lambda tokens: m.classifier(getattr(m, backbone).layernorm(tokens)[:, 0, :]))


READOUTS: dict[str, Callable[[Any], Readout]] = {
    "timm.models.vision_transformer.VisionTransformer": _timm,
    "torchvision.models.vision_transformer.VisionTransformer": _torchvision,
    "transformers.models.vit.modeling_vit.ViTForImageClassification": _hf("vit"),
    "transformers.models.deit.modeling_deit.DeiTForImageClassification": _hf("deit"),
}


def readout(model: torch.nn.Module, method: str) -> Readout:
    """``tokens [N, T, D] -> scores [N, C]`` through ``model``'s final norm and classifier.

    Raises
    ------
    ModelError
        No known family in ``model``: the message names the families ``method`` knows.
    """
    for module in model.modules():
        for cls in type(module).__mro__:
            make = READOUTS.get(f"{cls.__module__}.{cls.__qualname__}")
            if make is not None:
                return make(module)
    known = ", ".join(name.rpartition(".")[0].split(".")[0] + " " + name.rpartition(".")[2] for name in READOUTS)
    raise ModelError(f"{method} applies the classifier to every block's tokens and knows it for {known}; "
                     f"{type(model).__name__} is none of them")


def block_output(output: Any) -> torch.Tensor:
    """A block's output tokens (Hugging Face 4.x blocks return a tuple with the tokens first)."""
    return output[0] if isinstance(output, (tuple, list)) else output
