"""Built-in plugins ``attnlrp`` (Achtibat et al., ICML 2024) and ``cplrp`` (Ali et al., ICML 2022).

Both are LRP for transformers in the Gradient×Input framework: the relevance of input pixel ``x_i`` for
class ``c`` is ``R_i = x_i · ∂'S_c/∂x_i``, the input times its gradient under the rules
(:class:`attribkit.rules.AttnLRP`, :class:`attribkit.rules.CPLRP`) which the rule engine applies at
``softmax``, the attention's products, ``layer_norm``, ``linear`` and the activations, however the model
spells them (fused attention written out for the explained call). The rules live in
:mod:`attribkit.rules`; this plugin names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from attribkit.hookspecs import Registrar, hookimpl
from attribkit.rules import CPLRP, AttnLRP, RelevanceAttributor
from attribkit.transformers import transformer_only

#: What the factories accept (``batched_backward``, ``eval_mode``: the gradient engine's).
OPTIONS = ("epsilon", "attention_layers", "unsupported", "eval_mode", "batched_backward")


def attnlrp(
    model: torch.nn.Module,
    *,
    epsilon: float = 1e-6,
    attention_layers: str | Sequence[str] | None = None,
    **options: Any,
) -> RelevanceAttributor:
    """AttnLRP (Achtibat et al., "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for
    Transformers", ICML 2024): per-pixel relevance ``R = x ⊙ ∂'S_c/∂x`` under the identity rule at
    activations (Eq. 9), the softmax rule (Eq. 13, Gradient×Input), the uniform rule at the attention's
    products (Eq. 7), LayerNorm's scale held constant, and LRP-ε at linear layers (Eq. 4).

    ``attribute(x [N, 3, H, W], target)`` returns ``[N, 3, H, W]`` (``[N, K, 3, H, W]`` for K classes,
    one forward pass and one batched backward), signed. Summed over all axes it is the explained logit
    minus what the rules absorb (softmax, biases, ε) and what the learned class token and position
    embedding keep: ``docs/rules.md`` measures each.

    Parameters
    ----------
    model
        A vision transformer (timm ViT/DeiT, torchvision ``VisionTransformer``, Hugging Face ViT/DeiT, or
        any transformer with ``attention_layers=``).
    epsilon
        The ε of the linear layers' rule, ``≥ 0`` (``0``: the gradient there, as ``lxt.efficient``).
    attention_layers
        Names or patterns of the model's attention modules, for an architecture attribkit does not know
        (only used to recognise a transformer; the rules themselves need no names).
    **options
        ``unsupported``, ``eval_mode``, ``batched_backward`` as for ``deconvnet``.

    Raises
    ------
    ModelError
        ``model`` has no attention attribkit knows (a CNN): "attnlrp explains vision transformers only".
    OptionError
        ``epsilon < 0``.
    """
    transformer_only(model, "attnlrp", attention_layers)
    return RelevanceAttributor(model, rule=AttnLRP(epsilon=epsilon), **options)


def cplrp(
    model: torch.nn.Module,
    *,
    epsilon: float = 1e-6,
    attention_layers: str | Sequence[str] | None = None,
    **options: Any,
) -> RelevanceAttributor:
    """CP-LRP (Ali et al., "XAI for Transformers: Better Explanations through Conservative Propagation",
    ICML 2022): as :func:`attnlrp`, except that the attention probabilities are held constant (no
    relevance flows through the softmax into queries and keys; ``A v`` is linear in ``v``).

    Same shapes, options and errors as :func:`attnlrp`.
    """
    transformer_only(model, "cplrp", attention_layers)
    return RelevanceAttributor(model, rule=CPLRP(epsilon=epsilon), **options)


# Capability flag read by attribkit.transformers.explains_transformers_only (registry-driven tests give
# these a transformer): both refuse any other model with one ModelError.
attnlrp.transformer_only = True  # type: ignore[attr-defined]
cplrp.transformer_only = True  # type: ignore[attr-defined]


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "attnlrp",
        attnlrp,
        description="AttnLRP: LRP through softmax, the attention's products, LayerNorm and GELU; per-pixel "
                    "relevance (Achtibat et al. 2024; ViT only)",
        options=OPTIONS,
    )
    registry.add_attributor(
        "cplrp",
        cplrp,
        description="CP-LRP: LRP with the attention held constant (Ali et al. 2022; ViT only)",
        options=OPTIONS,
    )
