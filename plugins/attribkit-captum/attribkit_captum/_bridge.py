"""The shared adapter: attribkit's ``attribute()`` contract on top of one Captum method.

Captum explains one target per image per call, so ``[N, K]`` targets and ``top_k`` loop over K (one
Captum call per class); attribkit's own gradient engine batches the K backward passes instead.
"""

from __future__ import annotations

from typing import Any

import torch

from attribkit import TargetType, check_inputs, check_model, class_scores, frozen, resolve_targets


class CaptumAttributor:
    """Base of the bridged methods: input checks, target resolution, the K loop, model-mode restoration.

    A subclass implements :meth:`_attribute_one`, which calls Captum for one class per image.

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]``.
    eval_mode
        Run the model in eval mode (restored afterwards, even after an exception).
    """

    def __init__(self, model: torch.nn.Module, *, eval_mode: bool = True) -> None:
        self.model = check_model(model)
        self.eval_mode = eval_mode

    def scores(self, inputs: torch.Tensor, *args: Any) -> torch.Tensor:
        """The model's class scores ``[N, C]`` (:func:`attribkit.class_scores`): what Captum differentiates,
        so a model returning a tuple, a dict or a ``ModelOutput`` works as in attribkit's own methods."""
        return class_scores(self.model, inputs, *args)

    def _attribute_one(
        self, inputs: torch.Tensor, target: torch.Tensor, extra: tuple[Any, ...] | None
    ) -> torch.Tensor:
        """Captum's attribution of class ``target[i]`` for image ``i``: ``[N, C', H, W]``."""
        raise NotImplementedError

    def attribute(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> torch.Tensor:
        """Attributions for ``inputs`` ``[N, C, H, W]`` (already preprocessed for the model).

        Parameters
        ----------
        inputs
            ``[N, C, H, W]`` float tensor.
        target
            ``None`` (each image's top-1 class), an int, ``[N]`` or ``[N, K]`` class indices.
        top_k
            Use each image's K highest-scoring classes (instead of ``target``).
        additional_forward_args
            Extra positional arguments passed to ``model(inputs, *args)``.

        Returns
        -------
        torch.Tensor
            ``[N, C, H, W]`` (``C = 1`` for Grad-CAM), or ``[N, K, C, H, W]`` for ``[N, K]`` targets and
            ``top_k``; K classes cost K Captum calls.
        """
        check_inputs(inputs)
        extra = tuple(additional_forward_args or ())
        x = inputs.detach()
        with frozen(self.model, eval_mode=self.eval_mode):
            with torch.no_grad():
                targets = resolve_targets(target, top_k, self.scores(x, *extra))
            with torch.enable_grad():
                # Captum would set requires_grad itself, with a warning per call.
                x = x.clone().requires_grad_(True)
                maps = [
                    self._attribute_one(x, targets.index[:, k], extra or None).detach()
                    for k in range(targets.k)
                ]
        out = torch.stack(maps, dim=1)
        return out[:, 0] if targets.single else out

