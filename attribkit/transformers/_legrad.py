"""LeGrad (Bousselham, Boggust, Chaybouti, Strobelt & Kuehne 2024, "LeGrad: an explainability method for
vision transformers via feature formation sensitivity", arXiv 2404.03214, section 3).

For each block ``l``, the classifier is applied to the block's output tokens ``z^l`` (the model's final
norm and head: :mod:`attribkit.transformers._readout`), giving the score ``s^l`` of the class; the
gradient of ``s^l`` with respect to that block's attention probabilities ``A^l`` ``[h, T, T]`` is the
signal: ``Ê^l = mean_h mean_i (∂s^l/∂A^l)^+`` (positive part, mean over heads and query tokens), and the
map is the mean over the blocks, ``E = (1/L) Σ_l Ê^l``, over the patch tokens. As the authors' code
(WalBouss/LeGrad, ``LeWrapper.compute_legrad_clip``): ``clamp(min=0)``, ``mean(dim=1).mean(dim=1)``,
summed over the blocks from ``layer_index``. Their code min-max normalises the sum for display and
starts at the second-last block of OpenCLIP models (``layer_index=-2``); the paper aggregates every block
(the default here) and attribkit leaves normalisation to the display.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch

from attribkit._core.hooks import thread_hooks
from attribkit.errors import OptionError
from attribkit.transformers._base import AttentionAttributor, TokenMaps
from attribkit.transformers._explicit import AttentionRecord
from attribkit.transformers._layout import TokenLayout
from attribkit.transformers._readout import block_output, readout
from attribkit.transformers._sites import AttentionSite


def block_of(model: torch.nn.Module, site: AttentionSite) -> torch.nn.Module:
    """The transformer block holding ``site``: its parent module, or the site itself when the site is a
    block (its parent a ``ModuleList``/``Sequential``)."""
    parent_name = site.name.rpartition(".")[0]
    parent = model.get_submodule(parent_name) if parent_name else model
    return site.module if isinstance(parent, (torch.nn.ModuleList, torch.nn.Sequential)) or parent is model \
        else parent


def legrad(probs: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """``E = mean_l mean_h mean_i (∂s^l/∂A^l)^+`` ``[N, T]`` from each used block's gradient ``[N, h, T, T]``."""
    return torch.stack([g.clamp(min=0).mean(dim=1).mean(dim=1) for g in grads]).mean(dim=0)


class LeGrad(AttentionAttributor):
    """LeGrad (Bousselham et al. 2024, section 3): the positive gradient of each block's class score with
    respect to that block's attention, averaged over heads, queries and blocks.

    Parameters
    ----------
    model
        A timm ``VisionTransformer``/DeiT, torchvision ``VisionTransformer`` or Hugging Face
        ``ViTForImageClassification``/``DeiTForImageClassification``: LeGrad needs the model's final norm
        and classifier, applied to every block's tokens.
    layer_index
        The first block used (negative counts from the end: the authors' OpenCLIP default is ``-2``);
        ``0`` (default) uses every block, as the paper.
    attention_layers, eval_mode
        As :class:`~attribkit.transformers.AttentionAttributor`.

    Raises
    ------
    ModelError
        Not a vision transformer, or one whose classifier attribkit cannot apply to a block's tokens.
    OptionError
        ``layer_index`` outside ``[-L, L)`` for L blocks.

    Notes
    -----
    :meth:`attribute` returns ``[N, 1, H, W]`` (``[N, K, 1, H, W]`` for K classes), ``>= 0``, in units of
    score per attention probability, bilinearly upsampled. One forward pass; per class, one short backward
    pass per block (from ``s^l`` through that block and the head only).
    """

    method = "legrad"
    needs_gradient = True

    def __init__(self, model: torch.nn.Module, *, layer_index: int = 0,
                 attention_layers: str | list[str] | None = None, eval_mode: bool = True) -> None:
        super().__init__(model, attention_layers=attention_layers, eval_mode=eval_mode)
        self.head = readout(self.model, self.method)
        count = len(self.sites)
        if not isinstance(layer_index, int) or not -count <= layer_index < count:
            raise OptionError(f"layer_index must be an int in [-{count}, {count}) for this model's {count} blocks; "
                              f"got {layer_index!r}")
        self.first = layer_index % count
        self.blocks = [block_of(self.model, site) for site in self.sites]

    def recording(self, stack: ExitStack) -> list[list[torch.Tensor]]:
        outputs: list[list[torch.Tensor]] = [[] for _ in self.blocks]
        for index, block in enumerate(self.blocks):
            def keep(_m: torch.nn.Module, _args: Any, out: Any, index: int = index) -> None:
                outputs[index].append(block_output(out))

            stack.enter_context(thread_hooks(block, post=keep))
        return outputs

    def per_class(self, record: AttentionRecord, scores: torch.Tensor, layout: TokenLayout,
                  captured: Any = None) -> TokenMaps:
        probs = record.probs[self.first:]
        layer_scores = [self.head(outputs[-1]) for outputs in captured[self.first:]]

        def one_class(target: torch.Tensor) -> torch.Tensor:
            grads = []
            for attention, score in zip(probs, layer_scores):
                # s^l depends on A^l through block l only: one short backward pass per block, never the
                # sum over blocks (whose gradient at A^l would add every later block's score).
                chosen = score.gather(1, target[:, None]).sum()
                grads.append(torch.autograd.grad(chosen, attention, retain_graph=True)[0])
            return legrad(probs, grads)

        return one_class
