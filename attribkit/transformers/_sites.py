"""Where a vision transformer computes its attention: one :class:`AttentionSite` per block.

A site is a module whose forward pass runs exactly one attention (``softmax(Q Kᵀ/√d + mask) V`` over the
tokens), in whatever spelling: fused ``F.scaled_dot_product_attention`` (timm with ``fused_attn``, Hugging
Face's ``sdpa``), ``F.multi_head_attention_forward`` (``nn.MultiheadAttention``: torchvision's ViT), or
an explicit ``softmax`` (timm without ``fused_attn``, Hugging Face's ``eager``). Known classes are found
by their qualified name (or a base class's), without importing the library; any other model names its
blocks with ``attention_layers=``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attribkit.errors import ModelError, OptionError, close_matches, did_you_mean

#: Attention modules attribkit finds by itself, by qualified class name (a subclass counts too). Hugging
#: Face 4.x splits ``ViTAttention`` into ``ViTSelfAttention`` + output; a match inside a match is dropped,
#: so either generation gives one site per block.
ATTENTION_CLASSES: dict[str, str] = {
    "timm.layers.attention.Attention": "timm Attention",
    "timm.models.vision_transformer.Attention": "timm Attention",
    "torch.nn.modules.activation.MultiheadAttention": "torch.nn.MultiheadAttention",
    "transformers.models.vit.modeling_vit.ViTAttention": "Hugging Face ViTAttention",
    "transformers.models.vit.modeling_vit.ViTSelfAttention": "Hugging Face ViTAttention",
    "transformers.models.deit.modeling_deit.DeiTAttention": "Hugging Face DeiTAttention",
    "transformers.models.deit.modeling_deit.DeiTSelfAttention": "Hugging Face DeiTAttention",
}

#: What the error for an unknown architecture says was looked for.
LOOKED_FOR = ", ".join(sorted(set(ATTENTION_CLASSES.values())))


@dataclass(frozen=True, eq=False)
class AttentionSite:
    """One block's attention: the module whose forward pass runs it.

    Attributes
    ----------
    name
        Dotted name of the module in the model (``"blocks.3.attn"``).
    module
        The module; any module whose forward runs exactly one attention qualifies (a whole block too).
    """

    name: str
    module: torch.nn.Module


def _qualified(module: torch.nn.Module) -> list[str]:
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(module).__mro__]


def _known(module: torch.nn.Module) -> bool:
    return any(name in ATTENTION_CLASSES for name in _qualified(module))


def attention_sites(
    model: torch.nn.Module, attention_layers: str | Sequence[str] | None = None
) -> list[AttentionSite]:
    """Each block's attention site in ``model``, in module order (the order a ViT runs its blocks).

    Parameters
    ----------
    model
        A vision transformer (possibly wrapped, e.g. in a ``Sequential`` with a normalisation).
    attention_layers
        ``None``: find the known attention classes (:data:`ATTENTION_CLASSES`). Else dotted module
        names, or shell-style patterns (``"blocks.*.attn"``), of modules whose forward each runs exactly
        one attention (a block's attention module, or the block itself); order follows the model.

    Returns
    -------
    list[AttentionSite]
        At least one site.

    Raises
    ------
    ModelError
        No known attention module in ``model`` (the message names what was looked for; a CNN gets this).
    OptionError
        A name or pattern in ``attention_layers`` matches no module (close names suggested).

    Example
    -------
    >>> import timm
    >>> [s.name for s in attention_sites(timm.create_model("vit_tiny_patch16_224", depth=2))]
    ['blocks.0.attn', 'blocks.1.attn']
    """
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    named = [(n, m) for n, m in model.named_modules() if n]
    if attention_layers is None:
        sites: list[AttentionSite] = []
        for name, module in named:
            inside = any(name.startswith(s.name + ".") for s in sites)
            if _known(module) and not inside:
                sites.append(AttentionSite(name, module))
        if not sites:
            raise ModelError(f"{type(model).__name__} has no attention layer attribkit knows (looked for "
                             f"{LOOKED_FOR}); a transformer of another kind names its blocks with "
                             "attention_layers=['blocks.0.attn', ...]")
        return sites
    patterns = [attention_layers] if isinstance(attention_layers, str) else list(attention_layers)
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise OptionError(f"attention_layers must be dotted module names or patterns; got {attention_layers!r}")
    chosen: set[str] = set()
    for pattern in patterns:
        hits = {n for n, _ in named if fnmatch.fnmatchcase(n, pattern)}
        if not hits:
            hint = did_you_mean(close_matches(pattern, [n for n, _ in named]))
            raise OptionError(f"attention_layers: {type(model).__name__} has no module {pattern!r}.{hint}")
        chosen |= hits
    return [AttentionSite(n, m) for n, m in named if n in chosen]


def transformer_only(
    model: torch.nn.Module, method: str, attention_layers: str | Sequence[str] | None = None
) -> list[AttentionSite]:
    """:func:`attention_sites` for a method that explains vision transformers only; the one error a CNN
    (or an unknown architecture) gets names the method too.

    Raises
    ------
    ModelError
        ``"{method} explains vision transformers only: ..."`` when no attention site is found.
    OptionError
        As :func:`attention_sites`.
    """
    try:
        return attention_sites(model, attention_layers)
    except ModelError as error:
        raise ModelError(f"{method} explains vision transformers only: {error}") from None


def explains_transformers_only(method: str) -> bool:
    """Whether the registered attributor ``method`` explains vision transformers only: its factory carries
    ``transformer_only = True`` (:class:`~attribkit.transformers.AttentionAttributor` does).

    Raises
    ------
    UnknownMethodError
        No attributor of that name.
    """
    from attribkit._core.registry import get_registry

    return bool(getattr(get_registry().get("attributor", method).factory, "transformer_only", False))
