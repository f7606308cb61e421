"""Attention rollout (Abnar & Zuidema, ACL 2020, "Quantifying attention flow in transformers", section 3).

Each block's attention, heads fused, gets the identity added for the residual connection and its rows
renormalised, ``Â_l = (A_l + I) / rowsum``; the blocks multiply, ``R = Â_L ··· Â_2 Â_1``, and the class
token's row of ``R`` says how much of each input token reached the class token (equation in section 3:
``Ã(l_i) = Â(l_i) Ã(l_{i-1})``). Defaults are the authors' code (samiraabnar/attention_flow,
``compute_joint_attention``: heads averaged, residual added, rows renormalised, every block); the head
fusions max/min and the discard ratio are the options of jacobgil's vit-explain, where the method was
first applied to ViT (the lowest fraction of each fused matrix set to zero, the class token's attention to
itself kept). The map does not depend on the class: every class of an image gets the same map.
"""

from __future__ import annotations

import torch

from attribkit.errors import OptionError
from attribkit.transformers._base import FUSIONS, AttentionAttributor, TokenMaps, check_choice, class_row, fuse_heads
from attribkit.transformers._explicit import AttentionRecord
from attribkit.transformers._layout import TokenLayout


def residual_attention(fused: torch.Tensor, discard_ratio: float = 0.0) -> torch.Tensor:
    """``Â = (A' + I) / rowsum(A' + I)`` for fused attention ``A`` ``[N, T, T]``, where ``A'`` is ``A``
    with its ``⌊discard_ratio · T²⌋`` lowest entries per image set to zero (never entry ``(0, 0)``).

    Returns ``[N, T, T]`` with rows summing to 1.
    """
    if discard_ratio > 0:
        flat = fused.reshape(fused.shape[0], -1).clone()
        count = int(flat.shape[-1] * discard_ratio)
        lowest = flat.topk(count, dim=-1, largest=False).indices
        keep_first = lowest != 0  # vit-explain keeps the class token's attention to itself
        flat.scatter_(1, lowest, torch.where(keep_first, 0.0, flat.gather(1, lowest)))
        fused = flat.reshape(fused.shape)
    eye = torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
    augmented = fused + eye
    return augmented / augmented.sum(dim=-1, keepdim=True)


def rollout(probs: list[torch.Tensor], *, head_fusion: str = "mean", discard_ratio: float = 0.0) -> torch.Tensor:
    """Attention rollout ``R = Â_L ··· Â_1`` ``[N, T, T]`` of the blocks' probabilities ``[N, h, T, T]``
    (first block first); rows sum to 1."""
    result = None
    for block in probs:
        step = residual_attention(fuse_heads(block.detach(), head_fusion), discard_ratio)
        result = step if result is None else step @ result
    assert result is not None
    return result


class AttentionRollout(AttentionAttributor):
    """Attention rollout (Abnar & Zuidema 2020, section 3): how much of each patch reaches the class token
    through the attention of every block, residual connections counted.

    Parameters
    ----------
    model
        A vision transformer (timm ViT/DeiT, torchvision ``VisionTransformer``, Hugging Face ViT/DeiT; any
        other with ``attention_layers``).
    head_fusion
        ``"mean"`` (the authors'), ``"max"`` or ``"min"`` over heads.
    discard_ratio
        Fraction in ``[0, 1)`` of each fused attention matrix's lowest entries set to zero before the
        residual is added (vit-explain's option; 0, the authors' rollout, keeps all).
    attention_layers, eval_mode
        As :class:`~attribkit.transformers.AttentionAttributor`.

    Raises
    ------
    ModelError
        Not a vision transformer attribkit can read (a CNN).
    OptionError
        An unknown ``head_fusion``, a ``discard_ratio`` outside ``[0, 1)``.

    Notes
    -----
    :meth:`attribute` returns ``[N, 1, H, W]`` (``[N, K, 1, H, W]`` for K classes): the class token's row
    of ``R`` over the patch tokens, in ``[0, 1]``, bilinearly upsampled from the patch grid. One forward
    pass, no gradient; the map is the same for every class.
    """

    method = "rollout"

    def __init__(self, model: torch.nn.Module, *, head_fusion: str = "mean", discard_ratio: float = 0.0,
                 attention_layers: str | list[str] | None = None, eval_mode: bool = True) -> None:
        super().__init__(model, attention_layers=attention_layers, eval_mode=eval_mode)
        self.head_fusion = check_choice("head_fusion", head_fusion, FUSIONS)
        if not 0.0 <= float(discard_ratio) < 1.0:
            raise OptionError(f"discard_ratio must be in [0, 1); got {discard_ratio!r}")
        self.discard_ratio = float(discard_ratio)

    def per_class(self, record: AttentionRecord, scores: torch.Tensor, layout: TokenLayout,
                  captured: object = None) -> TokenMaps:
        row = class_row(rollout(record.probs, head_fusion=self.head_fusion, discard_ratio=self.discard_ratio),
                        layout)
        return lambda target: row
