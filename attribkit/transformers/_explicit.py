"""Attention made explicit for the explained call: every block's probabilities as tensors of the graph.

Fused attention (``F.scaled_dot_product_attention``, ``F.multi_head_attention_forward``) never hands out
its probabilities ``A = softmax(Q Kᵀ/√d + mask)``, and ``nn.MultiheadAttention`` with
``need_weights=False`` (torchvision's ViT) does not compute them at all. Inside :func:`recording_attention`
a ``TorchFunctionMode`` meets each such call made while an attention site's forward runs and answers it
with :func:`explicit_attention` (``A`` computed, then ``A V``), recording ``A``; an attention the model
already writes out (``softmax`` over the last axis of a 4-d tensor: timm without ``fused_attn``, Hugging
Face ``eager``) is recorded as it is. The model is never changed: no attribute is switched, no class
patched, so nothing is left to restore when the block ends, also after an exception. The mode lives on
this thread's mode stack and the site hooks act on this thread's forward passes only
(:func:`attribkit._core.hooks.thread_hooks`), so other threads running the same model keep the fused path.

Why a mode: it composes. The explicit operations (``matmul``, ``softmax``) are run with this mode popped
and every mode entered *before* it still active, so a rule engine entered outside
:func:`recording_attention` (``with applied(rule, model): with recording_attention(model): ...``) meets
them as ordinary calls and can replace their backward.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from attribkit._core.hooks import thread_hooks
from attribkit.errors import ModelError
from attribkit.transformers._sites import AttentionSite, attention_sites

#: Every spelling of a softmax a model's own explicit attention may use.
SOFTMAX = (F.softmax, torch.softmax, torch.Tensor.softmax, torch.special.softmax)

#: What a site's forward was searched for, for messages.
SEARCHED = "scaled_dot_product_attention, multi_head_attention_forward or a softmax over the last axis of [N, h, T, T]"


def explicit_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``F.scaled_dot_product_attention`` written out, returning its probabilities too.

    ``A = softmax(Q Kᵀ · scale + mask)``, ``out = dropout(A) V`` (Vaswani et al. 2017, equation 1; the
    arguments and mask conventions are ``F.scaled_dot_product_attention``'s: a boolean mask marks the
    pairs that take part, a float mask is added).

    Parameters
    ----------
    query, key, value
        ``[..., h, L, d]``, ``[..., h', S, d]``, ``[..., h', S, d_v]`` (``h'`` divides ``h`` with
        ``enable_gqa``).
    attn_mask, dropout_p, is_causal, scale, enable_gqa
        As ``F.scaled_dot_product_attention`` (``scale`` default ``1/√d``).

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        The output ``[..., h, L, d_v]`` and the probabilities ``A`` ``[..., h, L, S]`` (rows sum to 1),
        the tensor the output was computed from (before dropout).
    """
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(repeats, -3), value.repeat_interleave(repeats, -3)
    logits = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        allowed = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        logits = logits.masked_fill(~allowed, -math.inf)
    if attn_mask is not None:
        logits = logits.masked_fill(~attn_mask, -math.inf) if attn_mask.dtype == torch.bool else logits + attn_mask
    probs = logits.softmax(dim=-1)
    used = F.dropout(probs, p=dropout_p) if dropout_p > 0 else probs
    return used @ value, probs


_MHA = inspect.signature(F.multi_head_attention_forward)


def explicit_multi_head_attention(*args: Any, **kwargs: Any) -> tuple[tuple[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """``F.multi_head_attention_forward`` (``nn.MultiheadAttention``'s computation) written out.

    Takes ``F.multi_head_attention_forward``'s arguments (inputs ``[L, N, E]`` or ``[L, E]``; masks in its
    convention, ``True`` = not allowed). Projections, heads and output projection follow torch's own
    code; the attention is :func:`explicit_attention`.

    Returns
    -------
    tuple
        ``((output, weights), probs)``: what ``F.multi_head_attention_forward`` returns (``weights`` is
        ``None`` unless ``need_weights``) and the probabilities ``[N, heads, L, S]``.

    Raises
    ------
    ModelError
        ``bias_k``/``bias_v``, ``add_zero_attn`` or ``static_k``/``static_v``, which no vision transformer
        attribkit knows uses.
    """
    a = _MHA.bind(*args, **kwargs)
    a.apply_defaults()
    p = a.arguments
    if p["bias_k"] is not None or p["bias_v"] is not None or p["add_zero_attn"] or \
            p["static_k"] is not None or p["static_v"] is not None:
        raise ModelError("explicit attention does not cover nn.MultiheadAttention with bias_k/bias_v, "
                         "add_zero_attn or static_k/static_v")
    query, key, value = p["query"], p["key"], p["value"]
    unbatched = query.dim() == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
    length, batch, embed = query.shape
    heads = int(p["num_heads"])
    if p["use_separate_proj_weight"]:
        weights = (p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"])
    else:
        weights = p["in_proj_weight"].chunk(3)
    biases = p["in_proj_bias"].chunk(3) if p["in_proj_bias"] is not None else (None, None, None)

    def split(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        projected = F.linear(x, w, b)  # [S, N, E']
        return projected.reshape(x.shape[0], batch, heads, -1).permute(1, 2, 0, 3)  # [N, h, S, d]

    q, k, v = (split(x, w, b) for x, w, b in zip((query, key, value), weights, biases))
    mask = _additive_mask(p["attn_mask"], p["key_padding_mask"], batch, heads, q)
    dropout = float(p["dropout_p"]) if p["training"] else 0.0
    out, probs = explicit_attention(q, k, v, attn_mask=mask, dropout_p=dropout,
                                    is_causal=bool(p["is_causal"]) and mask is None)
    out = F.linear(out.permute(2, 0, 1, 3).reshape(length, batch, -1), p["out_proj_weight"], p["out_proj_bias"])
    shown = None
    if p["need_weights"]:
        shown = probs.mean(dim=1) if p["average_attn_weights"] else probs
        shown = shown.squeeze(0) if unbatched else shown
    return (out.squeeze(1) if unbatched else out, shown), probs


def _additive_mask(attn_mask: torch.Tensor | None, padding: torch.Tensor | None, batch: int, heads: int,
                   like: torch.Tensor) -> torch.Tensor | None:
    """``nn.MultiheadAttention``'s masks (``True`` = not allowed, or floats added) as one float mask
    broadcasting to ``[N, h, L, S]``."""
    total = None
    for mask, shape in ((attn_mask, None), (padding, (batch, 1, 1, -1))):
        if mask is None:
            continue
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=like.dtype, device=like.device).masked_fill(mask, -math.inf)
        mask = mask.to(like.dtype)
        if shape is not None:
            mask = mask.reshape(shape)
        elif mask.dim() == 3:  # [N * h, L, S]
            mask = mask.reshape(batch, heads, *mask.shape[-2:])
        total = mask if total is None else total + mask
    return total


class AttentionRecord:
    """What :func:`recording_attention` yields: the sites, and the probabilities of the last forward pass.

    Attributes
    ----------
    sites
        The attention sites, in model order.
    """

    def __init__(self, sites: Sequence[AttentionSite]) -> None:
        self.sites = list(sites)
        self._seen: list[list[torch.Tensor]] = [[] for _ in self.sites]
        self.forwards = 0

    def _start(self) -> None:
        self._seen = [[] for _ in self.sites]
        self.forwards += 1

    def _add(self, site: int, probs: torch.Tensor) -> None:
        self._seen[site].append(probs)

    @property
    def probs(self) -> list[torch.Tensor]:
        """Each site's attention probabilities ``[N, heads, T, T]`` of the last forward pass, in order.

        They are the tensors the forward pass computed its output from, in the autograd graph (when the
        pass recorded one): ``torch.autograd.grad(score, record.probs)`` gives ``∂S/∂A`` for every block.

        Raises
        ------
        ModelError
            No forward pass of the model ran in the block, or a site ran no attention or more than one.
        """
        if self.forwards == 0:
            raise ModelError("no forward pass of the model ran inside recording_attention()")
        for site, seen in zip(self.sites, self._seen):
            if len(seen) != 1:
                what = "no attention" if not seen else f"{len(seen)} attentions"
                raise ModelError(f"attention site {site.name!r} ran {what} in one forward pass (looked for "
                                 f"{SEARCHED}); name modules that run one attention each with attention_layers=")
        return [seen[0] for seen in self._seen]


class _Explicit(TorchFunctionMode):
    """Answers fused attention with :func:`explicit_attention` while a site runs; records every site's
    probabilities."""

    def __init__(self, record: AttentionRecord) -> None:
        super().__init__()
        self.record = record
        self.running: list[int] = []  # the sites whose forward is running (innermost last)

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if not self.running:
            return func(*args, **kwargs)
        site = self.running[-1]
        if func is F.scaled_dot_product_attention:
            out, probs = explicit_attention(*args, **kwargs)
            self.record._add(site, probs)
            return out
        if func is F.multi_head_attention_forward:
            answer, probs = explicit_multi_head_attention(*args, **kwargs)
            self.record._add(site, probs)
            return answer
        out = func(*args, **kwargs)
        if func in SOFTMAX and isinstance(out, torch.Tensor) and out.dim() == 4 and _last_axis(args, kwargs):
            self.record._add(site, out)
        return out


def _last_axis(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return dim in (-1, 3)


@contextmanager
def recording_attention(
    model: torch.nn.Module,
    attention_layers: str | Sequence[str] | None = None,
    *,
    sites: Sequence[AttentionSite] | None = None,
) -> Iterator[AttentionRecord]:
    """Inside the block, ``model``'s forward passes (in this thread) compute each block's attention
    explicitly and record its probabilities; outside it, nothing about the model has changed.

    The logits are those of the fused path to float tolerance (:func:`check_explicit_attention`
    measures it). Gradients need a graph: run the forward with ``torch.enable_grad()`` and an input (or
    parameter) that requires grad.

    Parameters
    ----------
    model
        A vision transformer (:func:`~attribkit.transformers.attention_sites` says which).
    attention_layers
        Passed to :func:`~attribkit.transformers.attention_sites` (ignored when ``sites`` is given).
    sites
        Sites found earlier.

    Yields
    ------
    AttentionRecord
        ``record.probs``: the last forward pass's ``[N, heads, T, T]`` per block.

    Raises
    ------
    ModelError, OptionError
        As :func:`~attribkit.transformers.attention_sites`.

    Example
    -------
    >>> import timm
    >>> vit = timm.create_model("vit_tiny_patch16_224", depth=2).eval()
    >>> x = torch.randn(1, 3, 224, 224, requires_grad=True)
    >>> with recording_attention(vit) as record:
    ...     score = vit(x)[:, 0].sum()
    >>> grads = torch.autograd.grad(score, record.probs)
    >>> [tuple(g.shape) for g in grads]
    [(1, 3, 197, 197), (1, 3, 197, 197)]
    """
    found = list(sites) if sites is not None else attention_sites(model, attention_layers)
    record = AttentionRecord(found)
    mode = _Explicit(record)
    depth = [0]

    def enter_model(_m: torch.nn.Module, _args: Any) -> None:
        if depth[0] == 0:
            record._start()
        depth[0] += 1

    def leave_model(_m: torch.nn.Module, _args: Any, _out: Any) -> None:
        depth[0] = max(0, depth[0] - 1)

    with ExitStack() as stack:
        stack.enter_context(thread_hooks(model, pre=enter_model, post=leave_model, prepend=True, always_call=True))
        for index, site in enumerate(found):
            def enter(_m: torch.nn.Module, _args: Any, index: int = index) -> None:
                mode.running.append(index)

            def leave(_m: torch.nn.Module, _args: Any, _out: Any) -> None:
                if mode.running:
                    mode.running.pop()

            stack.enter_context(thread_hooks(site.module, pre=enter, post=leave, prepend=True, always_call=True))
        stack.enter_context(mode)
        yield record


def check_explicit_attention(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    *args: Any,
    attention_layers: str | Sequence[str] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> float:
    """The largest difference between ``model``'s logits with fused and with explicit attention.

    Parameters
    ----------
    model
        A vision transformer, in the mode to compare (eval mode for a deterministic answer).
    inputs, args
        Called as ``model(inputs, *args)``.
    attention_layers
        As :func:`~attribkit.transformers.attention_sites`.
    rtol, atol
        The tolerance (``torch.allclose``'s).

    Returns
    -------
    float
        ``max |logits_fused - logits_explicit|``.

    Raises
    ------
    ModelError
        The logits differ beyond the tolerance (the model's attention is not what was recorded).
    """
    from attribkit._core.outputs import class_scores

    with torch.no_grad():
        fused = class_scores(model, inputs, *args)
        with recording_attention(model, attention_layers) as record:
            explicit = class_scores(model, inputs, *args)
        record.probs  # every site ran one attention
    gap = float((fused - explicit).abs().max())
    if not torch.allclose(fused, explicit, rtol=rtol, atol=atol):
        raise ModelError(f"{type(model).__name__}'s logits with explicit attention differ from the fused ones by "
                         f"{gap:.3g} (rtol={rtol}, atol={atol})")
    return gap
