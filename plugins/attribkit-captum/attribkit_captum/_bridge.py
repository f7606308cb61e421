"""The shared adapter: attribkit's ``attribute()`` contract on top of one Captum method.

Captum explains one target per image per call, so ``[N, K]`` targets and ``top_k`` loop over K (one
Captum call per class, the loop of :class:`attribkit.attribution.PerClassAttributor`); attribkit's own
gradient engine batches the K backward passes instead.
"""

from __future__ import annotations

from typing import Any

import torch

from attribkit import class_scores
from attribkit.attribution import PerClassAttributor


class CaptumAttributor(PerClassAttributor):
    """Base of the bridged methods: :class:`attribkit.attribution.PerClassAttributor` (input checks, target
    resolution, the K loop, model-mode restoration) with Captum's forward function.

    A subclass implements :meth:`attribute_class`, which calls Captum for one class per image, and sets
    :attr:`exclusive` when Captum hooks the model's modules.

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]``.
    eval_mode
        Run the model in eval mode (restored afterwards, even after an exception).
    """

    def scores(self, inputs: torch.Tensor, *args: Any) -> torch.Tensor:
        """The model's class scores ``[N, C]`` (:func:`attribkit.class_scores`): what Captum differentiates,
        so a model returning a tuple, a dict or a ``ModelOutput`` works as in attribkit's own methods."""
        return class_scores(self.model, inputs, *args)
