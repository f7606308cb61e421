"""The shared engine of every attributor whose answer is a (possibly rule-modified) input gradient.

Saliency (paper section 3), DeconvNet and guided backprop (section 5) differ only in how ReLU passes the
backward signal, so they share this class and differ in :meth:`GradientAttributor.backward_rules`.
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import torch

from attribkit._core.guards import check_inputs, check_model, frozen
from attribkit._core.interfaces import TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.scored import Scored, ScoresItsForward
from attribkit._core.targets import Targets, resolve_targets
from attribkit.errors import InputError


def saliency_map(attributions: torch.Tensor) -> torch.Tensor:
    """The paper's saliency map: ``M_ij = max_c |w_cij|`` over the colour axis (``-3``).

    ``[N, C, H, W] -> [N, H, W]`` and ``[N, K, C, H, W] -> [N, K, H, W]``.

    Example
    -------
    >>> saliency_map(torch.tensor([[[[1.0]], [[-3.0]], [[2.0]]]])).item()
    3.0
    """
    if attributions.ndim < 3:
        raise InputError(
            f"expected attributions [..., C, H, W]; got shape {tuple(attributions.shape)}"
        )
    return attributions.abs().amax(dim=-3)


def _one_hot(targets: Targets, scores: torch.Tensor) -> torch.Tensor:
    """Cotangents ``[K, N, num_classes]``: row k selects class ``targets.index[:, k]`` of each image."""
    grad = torch.zeros((targets.k, *scores.shape), dtype=scores.dtype, device=scores.device)
    grad.scatter_(2, targets.index.t().unsqueeze(2), 1.0)
    return grad


class GradientAttributor(ScoresItsForward):
    """Captum-style ``attribute()`` for gradient-like methods: input gradients of the unnormalised class
    scores (paper section 3), ``[N, C, H, W]`` or ``[N, K, C, H, W]``. K classes cost one forward pass and
    one batched backward pass (or K backward passes over the one graph: ``batched_backward``).

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]``.
    eval_mode
        Run the model in eval mode (restored afterwards).
    batched_backward
        How K > 1 target classes are differentiated after the single forward pass: ``True`` runs one
        vmapped backward over K one-hot cotangents (``is_grads_batched``), ``False`` runs K backward
        passes over the retained graph. ``None`` (default) picks the batched backward except on CPU for
        models with grouped (depthwise) convolutions, whose vmapped backward PyTorch's CPU kernels run
        about 2x slower than K plain backward passes (measured on EfficientNet-Lite0, bench/saliency.py).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        eval_mode: bool = True,
        batched_backward: bool | None = None,
    ) -> None:
        self.model = check_model(model)
        self.eval_mode = eval_mode
        self.batched_backward = batched_backward

    def backward_rules(self) -> ContextManager[Any]:
        """The context inside which forward and backward run; the plain gradient needs none."""
        return contextlib.nullcontext()

    def attribute_scored(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> Scored:
        """:meth:`~attribkit.Attributor.attribute` and the class scores of the same forward pass, which chose the
        targets (see :func:`attribkit.attribution.attribute_scored`: no second forward for the scores).

        Returns
        -------
        Scored
            Gradients ``[N, K, C, H, W]``, scores ``[N, num_classes]`` (detached), the targets.
        """
        check_inputs(inputs)
        extra = tuple(additional_forward_args or ())
        with frozen(self.model, eval_mode=self.eval_mode), torch.enable_grad():
            grads, targets, scores = self._gradients(inputs, target, top_k, extra)
        return Scored(grads, scores, targets)

    def _gradients(
        self,
        inputs: torch.Tensor,
        target: TargetType,
        top_k: int | None,
        extra: tuple[Any, ...],
    ) -> tuple[torch.Tensor, Targets, torch.Tensor]:
        """One forward, one (batched) backward: ``[N, K, C, H, W]`` gradients, the targets, the scores
        (detached)."""
        x = inputs.detach().requires_grad_(True)
        with self.backward_rules():
            scores = class_scores(self.model, x, *extra)
            targets = resolve_targets(target, top_k, scores)
            cotangents = _one_hot(targets, scores)
            if targets.k == 1:
                # The scalar <scores, one-hot> rather than grad_outputs=: the same gradient, and torch
                # imports sympy (~0.3 x `import torch`) on the first grad_outputs tensor it checks.
                (grad,) = torch.autograd.grad((scores * cotangents[0]).sum(), x)
                grads = grad.unsqueeze(1)
            elif self._batch_backward(x):
                # One vmapped backward for all K classes rather than K backward passes.
                (grad,) = torch.autograd.grad(scores, x, cotangents, is_grads_batched=True)
                grads = grad.movedim(0, 1)
            else:
                last = targets.k - 1
                grads = torch.stack(
                    [torch.autograd.grad(scores, x, c, retain_graph=k < last)[0]
                     for k, c in enumerate(cotangents)],
                    dim=1,
                )
        return grads, targets, scores.detach()

    def _batch_backward(self, x: torch.Tensor) -> bool:
        if self.batched_backward is not None:
            return self.batched_backward
        grouped = any(
            isinstance(m, torch.nn.modules.conv._ConvNd) and m.groups > 1 for m in self.model.modules()
        )
        return x.device.type != "cpu" or not grouped
