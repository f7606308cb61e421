"""Attention flow (Abnar & Zuidema, ACL 2020, "Quantifying attention flow in transformers", section 4).

The blocks form a layered graph: node ``(l, j)`` is token ``j`` after block ``l`` (``l = 0``: the input
tokens), and the edge from ``(l, i)`` to ``(l-1, j)`` has capacity ``Â_l[i, j]``, the residual attention
of rollout (heads averaged, identity added, rows renormalised). The flow of input token ``j`` is the
maximum flow from the class token's node after the last block to ``(0, j)``; the flows are normalised to
sum to 1 over the input tokens. As the authors' code (samiraabnar/attention_flow: ``get_adjmat``,
``compute_flows`` with ``networkx``'s Edmonds-Karp), solved with SciPy's Dinic algorithm
(``scipy.sparse.csgraph.maximum_flow``) on capacities scaled to integers (``2**20`` per unit: each
capacity is off by at most ``5e-7``).

Cost: one maximum flow per input token and image, each on ``L·T²`` edges (466,000 for 12 blocks of 197
tokens). On one CPU core here a whole map takes 2.7 s for a random-weight ViT-B/16 and 3.6 s for ViT-Ti/16
(``bench/transformers.py``); the authors' Edmonds-Karp takes about 5.5 s per flow on the same graph,
some 18 minutes per image. Tractable, but far slower than rollout, which it resembles.
The map does not depend on the class.
"""

from __future__ import annotations

import numpy as np
import torch

from attribkit.errors import ModelError
from attribkit.transformers._base import FUSIONS, AttentionAttributor, TokenMaps, check_choice, fuse_heads
from attribkit.transformers._explicit import AttentionRecord
from attribkit.transformers._layout import TokenLayout
from attribkit.transformers._rollout import residual_attention

#: Integer units per unit of capacity (SciPy's maximum flow takes integer capacities).
UNITS = 2 ** 20


def attention_flow(probs: list[torch.Tensor], *, head_fusion: str = "mean", source: int = 0) -> torch.Tensor:
    """The normalised maximum flow ``[N, T]`` from token ``source`` after the last block to each input
    token, through the blocks' probabilities ``[N, h, T, T]`` (first block first)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    steps = [residual_attention(fuse_heads(p.detach(), head_fusion)).double().cpu().numpy() for p in probs]
    layers, batch, tokens = len(steps), steps[0].shape[0], steps[0].shape[-1]
    after, before = np.meshgrid(np.arange(tokens), np.arange(tokens), indexing="ij")
    rows = np.concatenate([(layer + 1) * tokens + after.ravel() for layer in range(layers)])
    cols = np.concatenate([layer * tokens + before.ravel() for layer in range(layers)])
    nodes = (layers + 1) * tokens
    flows = np.zeros((batch, tokens))
    for image in range(batch):
        capacity = np.concatenate([np.rint(step[image].ravel() * UNITS) for step in steps]).astype(np.int32)
        graph = csr_matrix((capacity, (rows, cols)), shape=(nodes, nodes))
        top = layers * tokens + source
        for token in range(tokens):
            flows[image, token] = maximum_flow(graph, top, token, method="dinic").flow_value
        flows[image] /= flows[image].sum()
    return torch.as_tensor(flows, dtype=probs[0].dtype, device=probs[0].device)


class AttentionFlow(AttentionAttributor):
    """Attention flow (Abnar & Zuidema 2020, section 4): the maximum flow from the class token through the
    residual attention graph to each patch.

    Parameters
    ----------
    model
        A vision transformer with a class token (timm ViT/DeiT, torchvision ``VisionTransformer``, Hugging
        Face ViT/DeiT; any other with ``attention_layers``).
    head_fusion
        ``"mean"`` (the authors'), ``"max"`` or ``"min"`` over heads.
    attention_layers, eval_mode
        As :class:`~attribkit.transformers.AttentionAttributor`.

    Raises
    ------
    ModelError
        Not a vision transformer attribkit can read, or one without a class token (at explanation time).
    OptionError
        An unknown ``head_fusion``.

    Notes
    -----
    :meth:`attribute` returns ``[N, 1, H, W]`` (``[N, K, 1, H, W]`` for K classes) in ``[0, 1]`` (flows
    over all tokens sum to 1), bilinearly upsampled; the same map for every class. One forward pass, then
    ``T`` maximum-flow problems per image on the CPU (about 3 s per image for a 12-block ViT at 197 tokens).
    """

    method = "attention_flow"

    def __init__(self, model: torch.nn.Module, *, head_fusion: str = "mean",
                 attention_layers: str | list[str] | None = None, eval_mode: bool = True) -> None:
        super().__init__(model, attention_layers=attention_layers, eval_mode=eval_mode)
        self.head_fusion = check_choice("head_fusion", head_fusion, FUSIONS)

    def per_class(self, record: AttentionRecord, scores: torch.Tensor, layout: TokenLayout,
                  captured: object = None) -> TokenMaps:
        if layout.prefix == 0:
            raise ModelError(f"attention_flow flows from the class token; {type(self.model).__name__} has none")
        row = attention_flow(record.probs, head_fusion=self.head_fusion)
        return lambda target: row
