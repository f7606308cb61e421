"""Small random-weight vision transformers of the four families attribkit reads attention from, shared by
the transformer tests: timm ViT, timm DeiT-distilled (2 prefix tokens), torchvision ``VisionTransformer``
(``nn.MultiheadAttention``) and Hugging Face ``ViTForImageClassification`` (``eager`` and ``sdpa``).
Two blocks each, so a test runs in well under a second; inputs are the size ``attribkit.model_info``
preprocesses photos to."""

from __future__ import annotations

import warnings

import torch

#: Family name -> input side (pixels).
FAMILIES = {"timm_vit": 224, "timm_deit_distilled": 224, "torchvision_vit": 224, "hf_vit_sdpa": 64,
            "hf_vit_eager": 64}


def build(family: str, seed: int = 0) -> torch.nn.Module:
    """A random-weight model of ``family`` in eval mode (deterministic for a seed)."""
    torch.manual_seed(seed)
    if family == "timm_vit":
        import timm
        model = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=2)
    elif family == "timm_deit_distilled":
        import timm
        model = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, depth=2)
    elif family == "torchvision_vit":
        import torchvision
        model = torchvision.models.VisionTransformer(image_size=224, patch_size=32, num_layers=2, num_heads=2,
                                                     hidden_dim=32, mlp_dim=64, num_classes=10)
    elif family.startswith("hf_vit"):
        from transformers import ViTConfig, ViTForImageClassification
        config = ViTConfig(image_size=64, patch_size=16, num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                           intermediate_size=64, num_labels=10, attn_implementation=family.rpartition("_")[2])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ViTForImageClassification(config)
    else:
        raise KeyError(family)
    _spread(model)
    return model.eval()


def _spread(model: torch.nn.Module) -> None:
    """Weights at the scale of a trained model (``1/sqrt(fan_in)``), not the libraries' small initial ones:
    random ViTs are initialised so that attention is nearly uniform, which would let a wrong method pass
    an equality test; at this scale the attention of each head is peaked and differs between tokens."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=module.in_features ** -0.5)
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, std=0.1)
    for name, parameter in model.named_parameters():
        if "pos_embed" in name or "position_embedding" in name or "cls_token" in name or "class_token" in name \
                or "dist_token" in name or "reg_token" in name:
            torch.nn.init.normal_(parameter, std=0.5)


def inputs(family: str, batch: int = 2, seed: int = 1) -> torch.Tensor:
    """``[batch, 3, S, S]`` standard-normal inputs of the family's size."""
    side = FAMILIES[family]
    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(seed))


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out.logits if hasattr(out, "logits") else out
