"""Vision transformers: each block's attention probabilities, their gradients, and token maps as image maps.

The contract (what every transformer method, and a plugin author, builds on):

- :func:`attention_sites` ``(model, attention_layers=None) -> list[AttentionSite]``: one site per block,
  in the order the blocks run. Found by class for timm ``VisionTransformer``/DeiT (class, distillation and
  register tokens), torchvision ``VisionTransformer`` (``nn.MultiheadAttention``) and Hugging Face
  ``ViTForImageClassification``/``DeiTForImageClassification`` (``eager`` and ``sdpa``); any other
  model names modules (or shell patterns) with ``attention_layers=`` whose forward each runs one
  attention. No site: :class:`~attribkit.errors.ModelError` naming what was looked for (a CNN gets it).
- :func:`recording_attention` ``(model, attention_layers=None, *, sites=None)``: a context manager; in it,
  the model's forward passes in this thread compute attention explicitly (``A = softmax(Q Kᵀ/√d)``,
  then ``A V``) where it was fused, and ``record.probs`` is the last pass's list of ``[N, heads, T, T]``
  probabilities, the very tensors the output was computed from: ``torch.autograd.grad(score,
  record.probs)`` gives ``∂S/∂A`` per block. The model is never modified (a thread-local
  ``TorchFunctionMode`` and thread-scoped hooks, removed on exit, also after an exception), so the fused
  path is what runs outside the block and in other threads. The explicit ``matmul``/``softmax`` run
  with every mode entered *outside* the block still active: enter a rule engine first to give them rules.
- :func:`check_explicit_attention` ``(model, inputs)``: the largest logit difference between the fused
  and the explicit path (raises beyond float tolerance).
- :func:`explicit_attention` ``(q, k, v, ...) -> (out, probs)``: ``F.scaled_dot_product_attention`` written
  out; :func:`explicit_multi_head_attention` the same for ``F.multi_head_attention_forward``.
- :class:`TokenLayout` / :func:`token_layout` ``(model, tokens, image)``: prefix tokens, then the ``h × w``
  patch grid; ``layout.to_image(token_map [N, T or h·w], (H, W)) -> [N, 1, H, W]`` upsamples bilinearly
  like Grad-CAM maps.
- :func:`transformer_only` ``(model, method)``: the one error a CNN given to a transformer-only method gets.
- :class:`AttentionAttributor`: the base of the methods below (one forward pass with the attention
  recorded; a subclass writes ``per_class``); :class:`AttentionRollout`, :class:`AttentionFlow`,
  :class:`GradientRollout`, :class:`LeGrad` (registered as ``rollout``, ``attention_flow``,
  ``gradient_rollout``, ``legrad``), with their maths as plain functions (:func:`rollout`, ...). A factory
  with ``transformer_only = True`` (every ``AttentionAttributor``) says it explains transformers only:
  :func:`explains_transformers_only` reads the flag of a registered name.

Example
-------
>>> import timm, torch
>>> from attribkit.transformers import recording_attention, token_layout
>>> vit = timm.create_model("vit_tiny_patch16_224", depth=2).eval()
>>> x = torch.randn(1, 3, 224, 224, requires_grad=True)
>>> with recording_attention(vit) as record:
...     score = vit(x)[:, 0].sum()
>>> grads = torch.autograd.grad(score, record.probs)
>>> token_layout(vit, record.probs[0].shape[-1], (224, 224))
TokenLayout(prefix=1, grid=(14, 14))
"""

from attribkit.transformers._base import AttentionAttributor
from attribkit.transformers._explicit import (
    AttentionRecord,
    check_explicit_attention,
    explicit_attention,
    explicit_multi_head_attention,
    recording_attention,
)
from attribkit.transformers._flow import AttentionFlow, attention_flow
from attribkit.transformers._gradient_rollout import GradientRollout, gradient_rollout
from attribkit.transformers._layout import TokenLayout, model_prefix, token_layout
from attribkit.transformers._legrad import LeGrad, legrad
from attribkit.transformers._readout import readout
from attribkit.transformers._rollout import AttentionRollout, residual_attention, rollout
from attribkit.transformers._sites import (
    ATTENTION_CLASSES,
    AttentionSite,
    attention_sites,
    explains_transformers_only,
    transformer_only,
)

__all__ = [
    "ATTENTION_CLASSES",
    "AttentionAttributor",
    "AttentionFlow",
    "AttentionRecord",
    "AttentionRollout",
    "AttentionSite",
    "GradientRollout",
    "LeGrad",
    "TokenLayout",
    "attention_flow",
    "attention_sites",
    "check_explicit_attention",
    "explains_transformers_only",
    "explicit_attention",
    "explicit_multi_head_attention",
    "gradient_rollout",
    "legrad",
    "model_prefix",
    "readout",
    "recording_attention",
    "residual_attention",
    "rollout",
    "token_layout",
    "transformer_only",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.transformers", globals(), __all__)
