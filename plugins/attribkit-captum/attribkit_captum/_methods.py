"""The bridged Captum methods, each a thin :class:`CaptumAttributor` that calls Captum once per target
(:meth:`~attribkit.attribution.PerClassAttributor.attribute_class`)."""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import (
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
)

from attribkit.attribution import prefix_tokens

from attribkit_captum._bridge import CaptumAttributor
from attribkit_captum._layers import find_layer
from attribkit_captum._tokens import spatial_proxy


class CaptumIntegratedGradients(CaptumAttributor):
    """Integrated Gradients (Sundararajan et al. 2017) from a constant baseline.

    Parameters
    ----------
    n_steps, method, internal_batch_size
        Passed to ``captum.attr.IntegratedGradients.attribute``; ``internal_batch_size=None`` passes
        ``n_steps`` (one input's path per forward pass). Captum's own ``None`` runs every input's whole
        path at once: 8 photos x 50 steps of an EfficientNet-Lite0 at 224 px took over 23 GB and were
        killed for memory in a study.
    baseline
        The reference input, in the model's input space (``0.0`` is the dataset mean colour for
        mean/std-normalised models).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        n_steps: int = 50,
        method: str = "gausslegendre",
        baseline: float = 0.0,
        internal_batch_size: int | None = None,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, eval_mode=eval_mode)
        self.n_steps, self.method, self.baseline = n_steps, method, baseline
        self.internal_batch_size = internal_batch_size

    def attribute_class(self, inputs: torch.Tensor, target: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        return IntegratedGradients(self.scores).attribute(
            inputs, baselines=self.baseline, target=target, additional_forward_args=extra or None,
            n_steps=self.n_steps, method=self.method, internal_batch_size=self.internal_batch_size or self.n_steps,
        )


class CaptumInputXGradient(CaptumAttributor):
    """Input × gradient (Shrikumar et al. 2016)."""

    def attribute_class(self, inputs: torch.Tensor, target: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        return InputXGradient(self.scores).attribute(inputs, target=target, additional_forward_args=extra or None)


class CaptumOcclusion(CaptumAttributor):
    """Occlusion (Zeiler & Fergus 2014): score drop when a square window is replaced by a baseline.

    Parameters
    ----------
    window, stride
        Side and step of the square occluding window, in pixels (all channels are occluded together).
    baseline
        The value occluded pixels take, in the model's input space.
    perturbations_per_eval
        Occluded copies per forward pass.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        window: int = 16,
        stride: int = 8,
        baseline: float = 0.0,
        perturbations_per_eval: int = 16,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, eval_mode=eval_mode)
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1; got {window}, {stride}")
        self.window, self.stride, self.baseline = window, stride, baseline
        self.perturbations_per_eval = perturbations_per_eval

    def attribute_class(self, inputs: torch.Tensor, target: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        channels = inputs.shape[1]
        return Occlusion(self.scores).attribute(
            inputs, sliding_window_shapes=(channels, self.window, self.window),
            strides=(channels, self.stride, self.stride), baselines=self.baseline, target=target,
            additional_forward_args=extra or None, perturbations_per_eval=self.perturbations_per_eval,
        )


class CaptumGradCam(CaptumAttributor):
    """Grad-CAM (Selvaraju et al. 2017) of one layer, upsampled to the input: ``[N, 1, H, W]``.

    The layer may return a feature map ``[N, C, h, w]``, a channels-last map ``[N, h, w, C]`` (Swin,
    ConvNeXt's block norm) or transformer tokens ``[N, P + h*w, D]`` with ``P`` class tokens first (ViT,
    DeiT): the map is taken over the spatial grid in each case, class tokens left out.

    Parameters
    ----------
    layer
        Dotted name of the layer to explain (``model.get_submodule`` syntax, e.g. ``"layer4"`` or
        ``"features.28"``); ``None`` picks a default per model (see
        :func:`attribkit_captum.default_layer_name`).
    relu
        Keep only positive evidence (Grad-CAM's final ReLU).
    interpolate
        Upsampling mode for ``LayerAttribution.interpolate`` (``"bilinear"``, ``"nearest"``, ...).
    """

    #: Captum's and the proxy's forward hooks would act on other threads' forward passes too: calls on
    #: a model shared by threads take turns.
    exclusive = True

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        layer: str | None = None,
        relu: bool = True,
        interpolate: str = "bilinear",
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, eval_mode=eval_mode)
        self.layer_name, self.layer = find_layer(model, layer)
        self.relu, self.interpolate = relu, interpolate
        self._proxy = torch.nn.Identity()

    def attribute_class(self, inputs: torch.Tensor, target: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        # Captum explains the proxy, which sees the layer's output as [N, D, h, w] whatever its layout
        # (feature map, channels-last map, or transformer tokens with a class token): see _tokens.py.
        image = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        with spatial_proxy(self.layer, self._proxy, image, self.layer_name, prefix_tokens(self.model)):
            cam = LayerGradCam(self.scores, self._proxy).attribute(
                inputs, target=target, additional_forward_args=extra or None, relu_attributions=self.relu
            )
        return LayerAttribution.interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode=self.interpolate)
