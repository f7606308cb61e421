"""Grad-CAM (Selvaraju et al., ICCV 2017, "Grad-CAM: visual explanations from deep networks via
gradient-based localization", section 3, equations 1-2), built in because the default localisation
pipeline uses it (docs/localisation.md): on the 500 ILSVRC dev photos its maps box the object far more
often than input gradients do.

For a layer with feature maps ``A^k`` (``[N, D, h, w]``) and the unnormalised class score ``S_c``:
``alpha_k^c = mean_ij dS_c / dA^k_ij`` (eq. 1) and ``L^c = ReLU(sum_k alpha_k^c A^k)`` (eq. 2), upsampled
bilinearly to the input's size. K classes per image cost one forward pass and K backward passes from
the scores to the layer only (the head, not the whole network): the per-class loop is
:class:`~attribkit.attribution.PerClassAttributor`'s.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from attribkit._core.hooks import thread_hooks
from attribkit._core.outputs import class_scores
from attribkit.attribution._cam_layers import default_layer_name, feature_layout, prefix_tokens
from attribkit.attribution._per_class import Explainer, PerClassAttributor
from attribkit.errors import OptionError, did_you_mean

def find_layer(model: torch.nn.Module, name: str | None) -> tuple[str, torch.nn.Module]:
    """``(name, module)`` for a dotted module name (``None``: :func:`default_layer_name`).

    Raises
    ------
    OptionError
        No such submodule (close names suggested).
    """
    name = default_layer_name(model) if name is None else name
    try:
        return name, model.get_submodule(name)
    except AttributeError:
        known = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = did_you_mean(close)
        raise OptionError(f"{type(model).__name__} has no layer {name!r}.{hint}") from None


def as_feature_map(output: torch.Tensor, layer: str) -> torch.Tensor:
    """A layer's output as ``[N, D, h, w]`` on a square grid (see :func:`feature_layout` for the rest).

    Raises
    ------
    OptionError
        Any other shape (name a layer with spatial feature maps).
    """
    return feature_layout(output, layer).to_spatial(output)


class GradCAM(PerClassAttributor):
    """Grad-CAM maps of a layer, upsampled to the input (Selvaraju et al. 2017, equations 1-2).

    Calls with one model shared by threads are safe: the layer's hook acts on the calling thread's
    forward pass only (:func:`attribkit._core.hooks.thread_hooks`).

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]``.
    layer
        Dotted name of the layer whose feature maps are weighted (default: :func:`default_layer_name`).
    relu
        Keep only positive evidence (equation 2); ``False`` returns the signed map.
    eval_mode
        Run the model in eval mode (restored afterwards).

    Raises
    ------
    OptionError
        ``layer`` names no submodule, or the model has no default layer.

    Notes
    -----
    :meth:`~attribkit.Attributor.attribute` returns ``[N, 1, H, W]`` (or ``[N, K, 1, H, W]`` for K classes
    per image), in units of the layer's activations times score per activation; ``>= 0`` with ``relu``.
    """

    def __init__(self, model: torch.nn.Module, *, layer: str | None = None, relu: bool = True,
                 eval_mode: bool = True) -> None:
        super().__init__(model, eval_mode=eval_mode)
        self.layer_name, self.layer = find_layer(self.model, layer)
        self.relu = relu

    @contextmanager
    def explaining(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> Iterator[Explainer]:
        """One forward pass with the layer's output as a leaf; each class is a backward pass to it."""
        captured: list[torch.Tensor] = []

        def leaf(_module: torch.nn.Module, _inputs: Any, out: Any) -> Any:
            # The layer's output becomes a leaf of the graph: only the head after it is recorded and
            # differentiated (half the time of a graph from the input on EfficientNet-Lite0).
            if not isinstance(out, torch.Tensor):
                return None
            captured.append(out.detach().requires_grad_(True))
            return captured[-1]

        with thread_hooks(self.layer, post=leaf), torch.enable_grad():
            scores = class_scores(self.model, inputs, *extra)
        if not captured:
            raise OptionError(f"layer {self.layer_name!r} was not run by the forward pass, or does "
                              "not return one tensor; pass layer= naming another layer")
        activation = captured[-1]
        # Tokens [N, P + hw, D] and channels-last [N, h, w, D] are put on their grid first.
        layout = feature_layout(activation, self.layer_name, layer=self.layer,
                                image=(int(inputs.shape[-2]), int(inputs.shape[-1])),
                                prefix=prefix_tokens(self.model))
        features = layout.to_spatial(activation.detach())

        def one_class(target: torch.Tensor) -> torch.Tensor:
            chosen = scores.gather(1, target[:, None]).sum()
            # The graph is kept for the next class; it is freed with ``scores`` when the call ends.
            (grad,) = torch.autograd.grad(chosen, activation, retain_graph=True)
            weights = layout.to_spatial(grad).mean(dim=(2, 3), keepdim=True)  # equation 1
            cam = (weights * features).sum(dim=1, keepdim=True)  # equation 2, before the ReLU
            cam = F.relu(cam) if self.relu else cam
            return F.interpolate(cam, size=tuple(inputs.shape[-2:]), mode="bilinear", align_corners=False)

        yield scores.detach(), one_class
