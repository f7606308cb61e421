"""The one check of what a model returned: unnormalised class scores ``[N, C]``, or one clear error.

Every place that takes class scores from a model (the gradient engine, the averaging wrappers, the
class-model ascent, the faithfulness curves, the photo -> maps pipeline, the study) calls
:func:`class_scores`, so a model that returns a tuple, a dict or a Hugging Face ``ModelOutput`` works (or
fails) the same way everywhere.

What is accepted as it is: a tensor ``[N, C]``; any object with a ``.logits`` tensor (Hugging Face
``ImageClassifierOutput``); a mapping with a ``"logits"`` key. Anything else (a tuple ``(logits, aux)``,
another dict) needs an output selector, attached to the model once with :func:`set_output` (or
``load_model(model, output=...)``): an index, a key (or attribute name) or a callable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Union

import torch

from attribkit.errors import ModelError, OptionError

#: An output selector: an index into a tuple/list, a key (or attribute) name, or ``raw -> scores``.
OutputSelector = Union[int, str, Callable[[Any], Any]]

OUTPUT_ATTRIBUTE = "attribkit_output"


def set_output(model: torch.nn.Module, output: OutputSelector | None) -> torch.nn.Module:
    """Attach an output selector to ``model`` (``None`` removes it) and return the model.

    Example
    -------
    >>> class Pair(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x.flatten(1), x.mean()
    >>> model = set_output(Pair(), 0)
    >>> class_scores(model, torch.ones(2, 3)).shape
    torch.Size([2, 3])
    """
    if isinstance(output, bool) or not (output is None or isinstance(output, (int, str)) or callable(output)):
        raise OptionError(f"output must be an index, a key or a callable; got {type(output).__name__}")
    object.__setattr__(model, OUTPUT_ATTRIBUTE, output)
    return model


def output_of(model: torch.nn.Module) -> OutputSelector | None:
    """The selector attached with :func:`set_output`, or ``None``."""
    return getattr(model, OUTPUT_ATTRIBUTE, None)


def class_scores(model: torch.nn.Module, inputs: torch.Tensor, *args: Any) -> torch.Tensor:
    """``model(inputs, *args)`` reduced to its class scores ``[N, C]`` and checked (:func:`check_scores`).

    When autograd is on and ``inputs`` requires a gradient, the scores must depend on it.
    """
    need_grad = torch.is_grad_enabled() and inputs.requires_grad
    return check_scores(model(inputs, *args), output=output_of(model), batch=inputs.shape[0],
                        need_grad=need_grad, model=type(model).__name__)


def check_scores(
    raw: Any,
    *,
    output: OutputSelector | None = None,
    batch: int | None = None,
    need_grad: bool = False,
    model: str = "the model",
) -> torch.Tensor:
    """The class-score tensor ``[N, C]`` in what a model returned; :class:`~attribkit.ModelError` otherwise.

    Parameters
    ----------
    raw
        What the model returned.
    output
        Where the scores are in ``raw``: an index, a key or attribute name, or a callable. ``None``:
        ``raw`` itself if a tensor, else its ``.logits`` or ``["logits"]``.
    batch
        The number of input images N, when known.
    need_grad
        Require scores that autograd can differentiate (not detached).
    model
        The model's name, for messages.

    Raises
    ------
    ModelError
        One line naming what the model returned: a tuple or dict without ``output=``, scores that are not
        a float tensor, ``[N]`` or ``[N, C, 1, 1]`` scores, a batch size other than N, detached scores.
    """
    scores = _select(raw, output, model)
    if not isinstance(scores, torch.Tensor):
        raise ModelError(f"{model}'s output{_where(output)} is {_describe(scores)}, not a tensor of class "
                         "scores [N, C]")
    shape = tuple(scores.shape)
    if not scores.is_floating_point():
        raise ModelError(f"{model} returned {scores.dtype} scores {shape}: attribution needs the float, "
                         "unnormalised class scores (logits), not predicted labels")
    if scores.ndim == 4 and shape[2:] == (1, 1):
        raise ModelError(f"{model} returned scores {shape} = [N, C, 1, 1]: flatten them to [N, C] in the "
                         "model (e.g. end it with torch.nn.Flatten())")
    if scores.ndim == 1:
        raise ModelError(f"{model} returned scores {shape} = [N]: a classifier must return one score per "
                         "class, [N, C] (for one output unit, keep the class axis: [N, 1])")
    if scores.ndim != 2:
        raise ModelError(f"{model} returned scores {shape}; expected class scores [N, C]")
    if batch is not None and shape[0] != batch:
        raise ModelError(f"{model} returned scores {shape} for {batch} input(s); expected [{batch}, C]")
    if need_grad and not scores.requires_grad:
        raise ModelError(f"{model}'s scores {shape} do not depend on the input through autograd (detached: "
                         "a .detach(), .numpy() or torch.no_grad() inside forward?); gradient methods "
                         "need differentiable scores")
    return scores


def _select(raw: Any, output: OutputSelector | None, model: str) -> Any:
    if output is None:
        if isinstance(raw, torch.Tensor):
            return raw
        logits = getattr(raw, "logits", None)
        if isinstance(logits, torch.Tensor):
            return logits
        if isinstance(raw, Mapping) and "logits" in raw:
            return raw["logits"]
        if isinstance(raw, (tuple, list, Mapping)):
            raise ModelError(
                f"{model} returned {_describe(raw)}; say where its class scores are with output= (an index, "
                "a key or a callable), e.g. load_model(model, output=0), or --output 0 on the command line"
            )
        return raw
    if callable(output):
        return output(raw)
    try:
        if isinstance(output, str) and not isinstance(raw, Mapping):
            return getattr(raw, output)
        return raw[output]
    except (IndexError, KeyError, TypeError, AttributeError):
        raise ModelError(f"output={output!r} does not select anything in what {model} returned: "
                         f"{_describe(raw)}") from None


def _where(output: OutputSelector | None) -> str:
    return "" if output is None else f" (output={output!r})"


def _describe(value: Any, depth: int = 0) -> str:
    """A short description of a model's return value: ``tuple (Tensor[2, 10], Tensor[2, 4])``."""
    if isinstance(value, torch.Tensor):
        return f"Tensor{list(value.shape)}"
    if depth > 0 and isinstance(value, (tuple, list, Mapping)):
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, Mapping):
        items = ", ".join(f"{k!r}: {_describe(v, 1)}" for k, v in list(value.items())[:6])
        return f"{type(value).__name__} {{{items}}}"
    if isinstance(value, (tuple, list)):
        items = ", ".join(_describe(v, 1) for v in value[:6])
        return f"a {type(value).__name__} ({items})"
    return f"a {type(value).__name__}" if depth == 0 else type(value).__name__
