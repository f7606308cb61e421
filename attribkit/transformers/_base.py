"""The base of attributors that read a vision transformer's attention: one forward pass with every
block's attention recorded (:func:`~attribkit.transformers.recording_attention`), then a map over the
tokens per class, put on the image like a Grad-CAM map (:meth:`TokenLayout.to_image`).

A subclass writes :meth:`AttentionAttributor.per_class`: from the recorded probabilities (and the class
scores, in the graph when :attr:`~AttentionAttributor.needs_gradient`) to a function from one class per
image to a ``[N, T]`` map over the tokens. Methods that need gradients get one backward pass per class,
from the scores to the attention probabilities only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from attribkit._core.outputs import class_scores
from attribkit.attribution._per_class import Explainer, PerClassAttributor
from attribkit.errors import OptionError
from attribkit.transformers._explicit import AttentionRecord, recording_attention
from attribkit.transformers._layout import TokenLayout, token_layout
from attribkit.transformers._sites import transformer_only

#: What :meth:`AttentionAttributor.per_class` returns: one class per image ``[N]`` -> ``[N, T]`` token map.
TokenMaps = Callable[[torch.Tensor], torch.Tensor]

#: Head fusions of attention rollout (vit-explain's ``head_fusion``).
FUSIONS = ("mean", "max", "min")


def fuse_heads(probs: torch.Tensor, fusion: str) -> torch.Tensor:
    """``[N, h, T, T]`` -> ``[N, T, T]``: the mean (Abnar & Zuidema), maximum or minimum over heads."""
    if fusion == "mean":
        return probs.mean(dim=1)
    if fusion == "max":
        return probs.amax(dim=1)
    return probs.amin(dim=1)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``; :class:`~attribkit.errors.OptionError` naming ``name`` otherwise."""
    if value not in choices:
        raise OptionError(f"{name} must be one of {tuple(choices)}; got {value!r}")
    return value


def class_row(matrix: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
    """The class token's row of ``[N, T, T]`` (``[N, T]``); a model without prefix tokens (average
    pooling) has no class token: the mean of all rows, the pooled output's share."""
    return matrix[:, 0] if layout.prefix > 0 else matrix.mean(dim=1)


class AttentionAttributor(PerClassAttributor):
    """Base of a method that explains a vision transformer from its attention.

    Parameters
    ----------
    model
        A vision transformer (:func:`~attribkit.transformers.attention_sites` says which are found by
        themselves) returning unnormalised class scores.
    attention_layers
        Dotted names or patterns of the modules running each block's attention, for a model attribkit
        does not know (:func:`~attribkit.transformers.attention_sites`).
    eval_mode
        Run the model in eval mode (restored afterwards).

    Raises
    ------
    ModelError
        ``model`` has no attention layer attribkit knows and no ``attention_layers`` (a CNN): the method
        explains vision transformers only.
    """

    #: Capability flag (read from the registered factory, Captum-style, never from the method's name): the
    #: method explains vision transformers only, and any other model gets one ``ModelError``. A plugin's
    #: transformer-only factory sets it too, so registry-driven tests give it a transformer.
    transformer_only = True
    #: The method's registered name, for messages.
    method = "attention"
    #: Whether :meth:`per_class` differentiates the scores (the forward pass then records a graph).
    needs_gradient = False

    def __init__(self, model: torch.nn.Module, *, attention_layers: str | Sequence[str] | None = None,
                 eval_mode: bool = True) -> None:
        super().__init__(model, eval_mode=eval_mode)
        self.sites = transformer_only(self.model, self.method, attention_layers)

    def recording(self, stack: ExitStack) -> Any:
        """Enter (on ``stack``) whatever else the forward pass must record, and return where it lands
        (LeGrad: each block's output); handed to :meth:`per_class`. Default: nothing."""
        return None

    def per_class(self, record: AttentionRecord, scores: torch.Tensor, layout: TokenLayout,
                  captured: Any = None) -> TokenMaps:
        """From the recorded attention (and what :meth:`recording` captured) to ``target [N] -> [N, T]``
        token maps: the method itself."""
        raise NotImplementedError

    @contextmanager
    def explaining(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> Iterator[Explainer]:
        """One forward pass with the attention recorded; each class is a map over the tokens, upsampled."""
        x = inputs.clone().requires_grad_(True) if self.needs_gradient else inputs
        with torch.set_grad_enabled(self.needs_gradient), ExitStack() as stack:
            record = stack.enter_context(recording_attention(self.model, sites=self.sites))
            captured = self.recording(stack)
            scores = class_scores(self.model, x, *extra)
        probs = record.probs
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        layout = token_layout(self.model, int(probs[0].shape[-1]), size)
        maps = self.per_class(record, scores, layout, captured)

        def one_class(target: torch.Tensor) -> torch.Tensor:
            with torch.set_grad_enabled(self.needs_gradient):
                tokens = maps(target)
            return layout.to_image(tokens.detach(), size)

        yield scores.detach(), one_class
