"""The transformer operations relevance rules cover: how each is spelled, how its call is read, and the
explicit form of the fused attention calls.

As in ``_activations``, a ``TorchFunctionMode`` sees a call by its first Python-visible entry point, so
every spelling is listed (``F.softmax`` hides the ``Tensor.softmax`` it calls; ``q @ k`` arrives as
``Tensor.__matmul__``). Fused attention (``scaled_dot_product_attention``, and
``F.multi_head_attention_forward`` whose internals a mode never sees) is rewritten here as explicit
``matmul``/``softmax``/``linear`` calls, which the engine then dispatches to the rules one by one: the
decomposition exists only for the call being explained.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F


class OpCall(NamedTuple):
    """One call read: the tensor input the rule sees, and the call rebuilt around a substitute input."""

    input: torch.Tensor
    call: Callable[[torch.Tensor], torch.Tensor]
    args: dict[str, Any]


def _binder(signature: str) -> Callable[..., inspect.BoundArguments]:
    """A reader of calls with the given Python signature (PyTorch's C functions have no readable one)."""
    namespace: dict[str, Any] = {}
    exec(f"def f{signature}: pass", namespace)  # noqa: S102 - a fixed signature string, not user input
    sig = inspect.signature(namespace["f"])

    def bind(*args: Any, **kwargs: Any) -> inspect.BoundArguments:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound

    return bind


def _reader(signature: str, first: str) -> Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], OpCall]:
    bind = _binder(signature)

    def read(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> OpCall:
        bound = bind(*args, **kwargs)
        values = dict(bound.arguments)

        def call(x: torch.Tensor) -> torch.Tensor:
            if args:
                return func(x, *args[1:], **kwargs)
            return func(**{**kwargs, first: x})

        return OpCall(values[first], call, values)

    return read


#: ``F.softmax(input, dim, _stacklevel, dtype)``, ``torch.softmax(input, dim, dtype)``, ``Tensor.softmax``.
_read_softmax = _reader("(input, dim=None, _stacklevel=3, dtype=None)", "input")
_read_torch_softmax = _reader("(input, dim=None, dtype=None)", "input")
SOFTMAX: dict[Any, Callable[..., OpCall]] = {
    F.softmax: _read_softmax,
    torch.softmax: _read_torch_softmax,
    torch.Tensor.softmax: _read_torch_softmax,
    torch.special.softmax: _read_torch_softmax,
}

LAYER_NORM: dict[Any, Callable[..., OpCall]] = {
    F.layer_norm: _reader("(input, normalized_shape, weight=None, bias=None, eps=1e-5)", "input"),
    torch.layer_norm: _reader("(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True)",
                              "input"),
}

LINEAR: dict[Any, Callable[..., OpCall]] = {
    F.linear: _reader("(input, weight, bias=None)", "input"),  # also torch._C._nn.linear (the same object)
}


class Product(NamedTuple):
    """A product call read: its varying operands and the call rebuilt around substitutes for them."""

    operands: list[torch.Tensor]
    call: Callable[..., torch.Tensor]


def _is_constant(t: Any) -> bool:
    """Whether a product's operand is a constant for relevance: not a tensor needing a gradient, or a
    parameter (or a view of one: ``W.t()``), which makes the product linear in the other operand."""
    if not isinstance(t, torch.Tensor) or not t.requires_grad:
        return True
    return isinstance(t, torch.nn.Parameter) or isinstance(getattr(t, "_base", None), torch.nn.Parameter)


def _positional_product(skip: int) -> Callable[..., Product | None]:
    """Reader of ``f(a, b, ...)`` products whose positional tensors from ``skip`` on are its factors
    (``baddbmm``'s first argument is an additive input, not a factor)."""

    def read(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Product | None:
        if len(args) < skip + 2 or kwargs.get("out") is not None:
            return None
        where = [i for i in range(skip, len(args)) if isinstance(args[i], torch.Tensor)
                 and not _is_constant(args[i])]
        if len(where) < 2:
            return None

        def call(*operands: torch.Tensor) -> torch.Tensor:
            new = list(args)
            for i, t in zip(where, operands):
                new[i] = t
            return func(*new, **kwargs)

        return Product([args[i] for i in where], call)

    return read


def _read_einsum(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Product | None:
    if not args or not isinstance(args[0], str) or kwargs:
        return None
    listed = len(args) == 2 and isinstance(args[1], (list, tuple))
    tensors = list(args[1]) if listed else list(args[1:])
    where = [i for i, t in enumerate(tensors) if not _is_constant(t)]
    if len(where) < 2:
        return None

    def call(*operands: torch.Tensor) -> torch.Tensor:
        new = list(tensors)
        for i, t in zip(where, operands):
            new[i] = t
        return func(args[0], new) if listed else func(args[0], *new)

    return Product([tensors[i] for i in where], call)


_two = _positional_product(0)
_add = _positional_product(1)

#: Products the ``bilinear`` hook covers, keyed by the function object a mode receives.
PRODUCTS: dict[Any, Callable[..., Product | None]] = {
    torch.matmul: _two,
    torch.Tensor.matmul: _two,
    torch.Tensor.__matmul__: _two,
    torch.Tensor.__rmatmul__: _two,
    torch.bmm: _two,
    torch.Tensor.bmm: _two,
    torch.mm: _two,
    torch.Tensor.mm: _two,
    torch.baddbmm: _add,
    torch.Tensor.baddbmm: _add,
    torch.einsum: _read_einsum,
}

def _read_add(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Product | None:
    """``a + b`` of two varying tensors of the same shape (no ``alpha``, no ``out``, no broadcasting)."""
    if len(args) != 2 or kwargs or not all(isinstance(t, torch.Tensor) and not _is_constant(t) for t in args):
        return None
    if args[0].shape != args[1].shape:
        return None
    return Product(list(args), func)


#: Sums the ``add`` hook covers (``a + b`` arrives as ``Tensor.add``).
SUMS: dict[Any, Callable[..., Product | None]] = {torch.Tensor.add: _read_add, torch.add: _read_add}

_sdpa = _binder("(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, "
                "enable_gqa=False)")


def explicit_sdpa(*args: Any, **kwargs: Any) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` written out, PyTorch's documented reference implementation:
    ``softmax(q kᵀ · scale + mask) v``, each step a call the rules see. Equal to the fused kernel to float
    rounding (about 1e-6 relative in float32)."""
    a = _sdpa(*args, **kwargs).arguments
    q, k, v = a["query"], a["key"], a["value"]
    scale = 1.0 / math.sqrt(q.size(-1)) if a["scale"] is None else a["scale"]
    if a["enable_gqa"]:
        k = k.repeat_interleave(q.size(-3) // k.size(-3), -3)
        v = v.repeat_interleave(q.size(-3) // v.size(-3), -3)
    scores = torch.matmul(q * scale, k.transpose(-2, -1))
    if a["is_causal"]:
        keep = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    mask = a["attn_mask"]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    attn = torch.softmax(scores, dim=-1)
    if a["dropout_p"] > 0:
        attn = F.dropout(attn, a["dropout_p"])
    return torch.matmul(attn, v)


SDPA: tuple[Any, ...] = (F.scaled_dot_product_attention,)

_mha = _binder(
    "(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, "
    "add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None, "
    "need_weights=True, attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None, "
    "k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True, "
    "is_causal=False)"
)

MHA: tuple[Any, ...] = (F.multi_head_attention_forward,)


def mha_unsupported(*args: Any, **kwargs: Any) -> str | None:
    """What in this ``multi_head_attention_forward`` call :func:`explicit_mha` does not write out, or
    ``None``: such a call runs fused and its internals keep their plain gradient (the engine warns)."""
    a = _mha(*args, **kwargs).arguments
    for name in ("bias_k", "bias_v", "key_padding_mask", "attn_mask", "static_k", "static_v"):
        if a[name] is not None:
            return name
    if a["add_zero_attn"] or a["is_causal"]:
        return "add_zero_attn" if a["add_zero_attn"] else "is_causal"
    return None


def explicit_mha(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` and torchvision's ViT call)
    written out as projections, per-head scaled dot products, softmax and output projection, for calls
    without masks or extra key/value biases (:func:`mha_unsupported`). Same values to float rounding."""
    a = _mha(*args, **kwargs).arguments
    query, key, value, heads = a["query"], a["key"], a["value"], a["num_heads"]
    unbatched = query.dim() == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
    length, batch, embed = query.shape
    if a["use_separate_proj_weight"]:
        weights: Sequence[torch.Tensor] = (a["q_proj_weight"], a["k_proj_weight"], a["v_proj_weight"])
    else:
        weights = a["in_proj_weight"].chunk(3)
    biases = a["in_proj_bias"].chunk(3) if a["in_proj_bias"] is not None else (None, None, None)
    q, k, v = (F.linear(t, w, b) for t, w, b in zip((query, key, value), weights, biases))
    head_dim = embed // heads
    q, k, v = (t.reshape(t.shape[0], batch * heads, head_dim).transpose(0, 1) for t in (q, k, v))
    scores = torch.bmm(q * (1.0 / math.sqrt(head_dim)), k.transpose(1, 2))
    attn = torch.softmax(scores, dim=-1)
    if a["training"] and a["dropout_p"] > 0:
        attn = F.dropout(attn, a["dropout_p"])
    out = torch.bmm(attn, v).transpose(0, 1).reshape(length * batch, embed)
    out = F.linear(out, a["out_proj_weight"], a["out_proj_bias"]).view(length, batch, embed)
    weights_out = None
    if a["need_weights"]:
        weights_out = attn.view(batch, heads, length, -1)
        weights_out = weights_out.mean(dim=1) if a["average_attn_weights"] else weights_out
        if unbatched:
            weights_out = weights_out.squeeze(0)
    return (out.squeeze(1) if unbatched else out), weights_out
