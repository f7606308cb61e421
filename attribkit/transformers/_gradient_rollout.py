"""Gradient-weighted attention rollout: Chefer, Gur & Wolf, ICCV 2021, "Generic attention-model
explainability for interpreting bi-modal and encoder-decoder transformers", section 3, equations 5-6 (for
a self-attention-only model such as ViT).

Per block, ``Ā = E_h[(∇A ⊙ A)^+]`` (equation 5: the attention weighted by the class score's gradient,
positive part, mean over heads), accumulated from ``R = I`` by ``R ← R + Ā R`` (equation 6), first block
first; the class token's row of ``R`` over the patch tokens is the map. This is the authors' published
code (hila-chefer/Transformer-MM-Explainability, ``Transformer_MM_explainability_ViT.ipynb``:
``avg_heads`` and ``apply_self_attention_rules``) with the batch kept.
"""

from __future__ import annotations

import torch

from attribkit.transformers._base import AttentionAttributor, TokenMaps, class_row
from attribkit.transformers._explicit import AttentionRecord
from attribkit.transformers._layout import TokenLayout


def gradient_rollout(probs: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """``R`` ``[N, T, T]`` from the blocks' probabilities and their score gradients (``[N, h, T, T]`` each,
    first block first): ``R = I``, ``R += mean_h((∇A ⊙ A)^+) R``."""
    first = probs[0]
    eye = torch.eye(first.shape[-1], dtype=first.dtype, device=first.device)
    relevance = eye.expand(first.shape[0], -1, -1)
    for attention, grad in zip(probs, grads):
        weighted = (grad * attention.detach()).clamp(min=0).mean(dim=1)  # equation 5
        relevance = relevance + weighted @ relevance  # equation 6
    return relevance


class GradientRollout(AttentionAttributor):
    """Chefer et al.'s generic attention explainability (ICCV 2021, equations 5-6) for vision transformers.

    Parameters
    ----------
    model
        A vision transformer (timm ViT/DeiT, torchvision ``VisionTransformer``, Hugging Face ViT/DeiT; any
        other with ``attention_layers``).
    attention_layers, eval_mode
        As :class:`~attribkit.transformers.AttentionAttributor`.

    Raises
    ------
    ModelError
        Not a vision transformer attribkit can read (a CNN).

    Notes
    -----
    :meth:`attribute` returns ``[N, 1, H, W]`` (``[N, K, 1, H, W]`` for K classes), ``>= 0``: the class
    token's row of ``R`` over the patch tokens (relevance, not normalised), bilinearly upsampled. One
    forward pass for all classes, one backward pass per class from the score to the attention
    probabilities. The paper's caveat: the gradient weighting is a heuristic for the head's importance,
    not a conserved relevance.
    """

    method = "gradient_rollout"
    needs_gradient = True

    def per_class(self, record: AttentionRecord, scores: torch.Tensor, layout: TokenLayout,
                  captured: object = None) -> TokenMaps:
        probs = record.probs

        def one_class(target: torch.Tensor) -> torch.Tensor:
            chosen = scores.gather(1, target[:, None]).sum()
            grads = torch.autograd.grad(chosen, probs, retain_graph=True)
            return class_row(gradient_rollout(probs, list(grads)), layout)

        return one_class
