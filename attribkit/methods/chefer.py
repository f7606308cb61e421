"""Built-in plugin ``chefer2021``: Transformer attribution (Chefer, Gur & Wolf, "Transformer
Interpretability Beyond Attention Visualization", CVPR 2021, section 3.3).

Per block ``b``: ``Ā_b = E_h[(∇A_b ⊙ R_{A_b})^+]``, the attention's LRP relevance ``R_A`` weighted by the
class score's gradient ``∇A``, positive part, mean over heads; rolled out with the identity,
``C = (I + Ā_B) ⋯ (I + Ā_1)``; the class token's row over the patch tokens is the map. This
is the authors' published code (hila-chefer/Transformer-Explainability, ``baselines/ViT/ViT_LRP.py``:
``relprop(method="transformer_attribution")``, ``"grad"`` in early commits, and
``compute_rollout_attention``; ``ViT_explanation_generator.py`` starts the relevance at the one-hot class
vector with ``alpha=1``), with the batch kept.

``R_A`` comes from attribkit's rule engine: the LRP rules of their code (:class:`attribkit.rules.CheferLRP`)
in force while :func:`attribkit.transformers.recording_attention` records each block's probabilities, so
``R_A = A ⊙ ∂'S/∂A`` in the Gradient×Input framework; ``∇A`` from a plain forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from attribkit._core.outputs import class_scores
from attribkit.attribution._per_class import Explainer
from attribkit.errors import OptionError
from attribkit.hookspecs import Registrar, hookimpl
from attribkit.rules import CheferLRP, applied, safe_divide
from attribkit.transformers import recording_attention, token_layout
from attribkit.transformers._base import AttentionAttributor, class_row


def rollout_with_identity(cams: Sequence[torch.Tensor], start_layer: int = 0) -> torch.Tensor:
    """``(I + Ā_B) ⋯ (I + Ā_s)`` for ``Ā_b`` ``[N, T, T]`` (first block first), from block ``s =
    start_layer`` (the authors' ``compute_rollout_attention``, rows not renormalised)."""
    eye = torch.eye(cams[0].shape[-1], dtype=cams[0].dtype, device=cams[0].device)
    joint = cams[start_layer] + eye
    for cam in cams[start_layer + 1:]:
        joint = (cam + eye) @ joint
    return joint


class Chefer2021(AttentionAttributor):
    """Transformer attribution (Chefer, Gur & Wolf, CVPR 2021): LRP relevance of each block's attention
    times its gradient, positive part averaged over heads, rolled out with the identity.

    Parameters
    ----------
    model
        A vision transformer (timm ViT/DeiT, torchvision ``VisionTransformer``, Hugging Face ViT/DeiT; any
        other with ``attention_layers``).
    start_layer
        The first block rolled out (the authors' ``start_layer``, default 0: all blocks).
    attention_layers, eval_mode
        As :class:`attribkit.transformers.AttentionAttributor`.

    Raises
    ------
    ModelError
        Not a vision transformer attribkit can read (a CNN): "chefer2021 explains vision transformers only".
    OptionError
        ``start_layer`` not a block index.

    Notes
    -----
    :meth:`attribute` returns ``[N, 1, H, W]`` (``[N, K, 1, H, W]`` for K classes), ``>= 0``: the class
    token's row of the rollout over the patch tokens (prefix tokens dropped), bilinearly upsampled like a
    Grad-CAM map. Cost: two forward passes for all classes (one plain for ``∇A``, one under the LRP
    rules for ``R_A``), then two backward passes per class. The paper's caveats: the LRP rules are
    αβ (α = 1) at linear layers and pass relevance unchanged through GELU, softmax and LayerNorm, so
    ``R_A`` is not conserved; the gradient weighting is a heuristic for each head's importance.
    """

    method = "chefer2021"
    needs_gradient = True

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        start_layer: int = 0,
        attention_layers: str | Sequence[str] | None = None,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, attention_layers=attention_layers, eval_mode=eval_mode)
        if isinstance(start_layer, bool) or not isinstance(start_layer, int) or \
                not 0 <= start_layer < len(self.sites):
            raise OptionError(f"start_layer must be a block index in [0, {len(self.sites) - 1}]; got {start_layer!r}")
        self.start_layer = start_layer

    @contextmanager
    def explaining(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> Iterator[Explainer]:
        """A plain forward pass (scores, ``∇A``) and one under :class:`~attribkit.rules.CheferLRP`
        (``R_A``), each with the attention recorded; each class is then two backward passes."""
        x = inputs.clone().requires_grad_(True)
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        with torch.enable_grad():
            with recording_attention(self.model, sites=self.sites) as plain:
                scores = class_scores(self.model, x, *extra)
            # The engine first, then the recording: the written-out attention's calls reach the rules.
            with applied(CheferLRP(), self.model, unsupported="ignore"), \
                    recording_attention(self.model, sites=self.sites) as ruled:
                ruled_scores = class_scores(self.model, x, *extra)
        probs, ruled_probs = plain.probs, ruled.probs
        layout = token_layout(self.model, int(probs[0].shape[-1]), size)

        def one_class(target: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                one_hot = torch.zeros_like(scores).scatter_(1, target[:, None], 1.0)
                grads = torch.autograd.grad(scores, probs, one_hot, retain_graph=True)
                # Their relevance starts as the one-hot vector: R_out = z ⊙ seed, so seed = one-hot / z.
                seed = safe_divide(one_hot, ruled_scores.detach())
                modified = torch.autograd.grad(ruled_scores, ruled_probs, seed, retain_graph=True)
            cams = [(g * (a.detach() * m)).clamp(min=0).mean(dim=1)  # R_A = A ⊙ ∂'S/∂A
                    for g, a, m in zip(grads, ruled_probs, modified)]
            tokens = class_row(rollout_with_identity(cams, self.start_layer), layout)
            return layout.to_image(tokens.detach(), size)

        yield scores.detach(), one_class


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "chefer2021",
        Chefer2021,
        description="Transformer attribution: LRP relevance of each block's attention times its gradient, "
                    "rolled out (Chefer, Gur & Wolf, CVPR 2021; ViT only)",
    )
