"""What every averaging wrapper shares: the wrapped attributor, the targets of the whole input, and the
``attribute()`` contract around an average over transformed copies of the input.

A wrapper explains the classes of the input it was given: ``None`` and ``top_k`` are resolved once, on the
whole, clean, full-size input, and the wrapped attributor is asked for those classes on every crop, noisy
copy or scale. Otherwise each noisy copy or crop could pick a top-1 class of its own.
"""

from __future__ import annotations

from typing import Any

import torch

from attribkit._core.guards import check_inputs, frozen
from attribkit._core.interfaces import Attributor, TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.targets import Targets, needs_scores, resolve_targets
from attribkit.errors import OptionError, PluginError


class Averaging:
    """Base of :class:`~attribkit.attribution.TenCrop`, :class:`~attribkit.attribution.SmoothGrad`,
    :class:`~attribkit.attribution.VarGrad` and :class:`~attribkit.attribution.MultiScale`.

    A subclass implements :meth:`_average`, from inputs ``[N, C, H, W]`` and class indices ``[N, K]`` to
    attributions ``[N, K, C', H, W]``.

    Parameters
    ----------
    attributor
        Any object with the :class:`~attribkit.Attributor` contract (a registered method, another wrapper).
    """

    def __init__(self, attributor: Attributor) -> None:
        if not callable(getattr(attributor, "attribute", None)) or not hasattr(attributor, "model"):
            raise OptionError(
                f"{type(self).__name__} wraps an attributor (with .model and .attribute()); "
                f"got {type(attributor).__name__}"
            )
        self.attributor = attributor
        self.model = attributor.model

    @property
    def eval_mode(self) -> bool:
        """Whether the wrapped attributor runs its model in eval mode (the target forward does the same)."""
        return bool(getattr(self.attributor, "eval_mode", True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.attributor!r})"

    def attribute(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> torch.Tensor:
        """The average of the wrapped attributor's attributions (the subclass says over what).

        Parameters
        ----------
        inputs
            ``[N, C, H, W]`` float tensor, already preprocessed for the model.
        target
            ``None`` (each image's top-1 class), an int, ``[N]`` or ``[N, K]`` class indices, resolved on
            ``inputs`` themselves.
        top_k
            Each image's K highest-scoring classes (instead of ``target``).
        additional_forward_args
            Extra positional arguments for ``model(inputs, *args)``; tensors with a batch axis follow
            their images into the copies.

        Returns
        -------
        torch.Tensor
            ``[N, C', H, W]``, or ``[N, K, C', H, W]`` for ``[N, K]`` targets and ``top_k``; ``C'`` is what
            the wrapped attributor returns (``C``, or 1 for Grad-CAM and :class:`MultiScale`).
        """
        check_inputs(inputs)
        extra = tuple(additional_forward_args or ())
        targets = self._targets(inputs, target, top_k, extra)
        out = self._average(inputs, targets.index, extra)
        return out[:, 0] if targets.single else out

    def _targets(
        self, inputs: torch.Tensor, target: TargetType, top_k: int | None, extra: tuple[Any, ...]
    ) -> Targets:
        if not needs_scores(target, top_k):
            # Explicit classes need no forward pass; the wrapped attributor checks their range.
            return resolve_targets(target, top_k, batch=inputs.shape[0])
        with frozen(self.model, eval_mode=self.eval_mode), torch.no_grad():
            scores = class_scores(self.model, inputs, *extra)
        return resolve_targets(target, top_k, scores)

    def _average(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        raise NotImplementedError

    def _attribute(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        """The wrapped attributor on (transformed) inputs for ``[N', K]`` classes: ``[N', K, C', H', W']``."""
        out = self.attributor.attribute(inputs, target=index, additional_forward_args=extra or None)
        if not isinstance(out, torch.Tensor) or out.ndim != 5 or tuple(out.shape[:2]) != tuple(index.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise PluginError(
                f"{type(self.attributor).__name__}.attribute() broke the contract: [N, K] targets of shape "
                f"{tuple(index.shape)} gave {shape}; expected [N, K, C, H, W]"
            )
        return out


def repeat_args(extra: tuple[Any, ...], times: int) -> tuple[Any, ...]:
    """Batched tensor arguments follow their images into ``times`` copies (copy-major order)."""
    return tuple(
        a.repeat(times, *([1] * (a.ndim - 1))) if isinstance(a, torch.Tensor) and a.ndim else a
        for a in extra
    )
