"""Attributions together with the class scores that chose their targets, from one forward pass.

A caller that must report the classes it explained (their probabilities, the top-k list) needs the
model's scores; an attributor that resolves ``None``/``top_k`` itself has them already, from the forward
pass its attribution uses. Such an attributor says so Captum-style, by what it can do: it has an
``attribute_scored(inputs, target, *, top_k, additional_forward_args)`` method returning a
:class:`Scored`. :func:`attribute_scored` asks for it and, for an attributor without it (a third-party
one), runs one ``no_grad`` forward for the scores first, as every attributor needed before.

Nothing is stored on the attributor: the scores travel in the return value, so one attributor can serve
many threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from attribkit._core.guards import frozen
from attribkit._core.interfaces import Attributor, TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.targets import Targets, resolve_targets
from attribkit.errors import PluginError

#: The capability's method name.
SCORED = "attribute_scored"


@dataclass(frozen=True)
class Scored:
    """What one attribution call computed.

    Attributes
    ----------
    attributions
        ``[N, K, C', H, W]`` (always with the K axis; ``targets.single`` says whether the caller gave one
        class per image).
    scores
        ``[N, num_classes]`` detached, unnormalised class scores of the clean ``inputs``, from the forward
        pass that chose the targets.
    targets
        The ``[N, K]`` class indices explained.
    """

    attributions: torch.Tensor
    scores: torch.Tensor
    targets: Targets

    def unbatched(self) -> torch.Tensor:
        """The attributions as ``attribute()`` returns them: without the K axis for one class per image."""
        return self.attributions[:, 0] if self.targets.single else self.attributions


class ScoresItsForward:
    """Mixin: ``attribute()`` written once for attributors that implement :data:`SCORED`
    (``attribute_scored``), the gradient engine and the one-class-per-call base among them."""

    def attribute(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> torch.Tensor:
        """Attributions for ``inputs`` (Captum's call).

        Parameters
        ----------
        inputs
            ``[N, C, H, W]`` float tensor, already preprocessed for the model.
        target
            ``None`` (each image's top-1 class), an int, ``[N]`` or ``[N, K]`` class indices.
        top_k
            Use each image's K highest-scoring classes (instead of ``target``).
        additional_forward_args
            Extra positional arguments passed to ``model(inputs, *args)``.

        Returns
        -------
        torch.Tensor
            ``[N, C', H, W]``, or ``[N, K, C', H, W]`` for ``[N, K]`` targets and ``top_k`` (``C'`` is
            ``C`` for input-space methods, 1 for class-activation maps); the class says what K classes cost.

        Raises
        ------
        InputError
            ``inputs`` is not a 4-d floating tensor (or holds NaN or infinity).
        TargetError
            Targets out of range, of the wrong shape, or both ``target`` and ``top_k``.
        """
        scored: Scored = getattr(self, SCORED)(inputs, target, top_k=top_k,
                                               additional_forward_args=additional_forward_args)
        return scored.unbatched()


def can_score(attributor: Any) -> bool:
    """Whether ``attributor`` returns the scores of its own forward pass (:data:`SCORED`).

    A subclass that overrides ``attribute()`` below the class that defines ``attribute_scored`` does not
    count: its ``attribute_scored`` would skip what the override adds.
    """
    cls = type(attributor)
    owner_scored = next((c for c in cls.__mro__ if SCORED in vars(c)), None)
    owner_attribute = next((c for c in cls.__mro__ if "attribute" in vars(c)), None)
    return owner_scored is not None and (owner_attribute is None or issubclass(owner_scored, owner_attribute))


def attribute_scored(
    attributor: Attributor,
    inputs: torch.Tensor,
    target: TargetType = None,
    *,
    top_k: int | None = None,
    additional_forward_args: tuple[Any, ...] | None = None,
) -> Scored:
    """``attributor.attribute(...)`` and the class scores that chose its targets, in one forward pass
    where the attributor can say its scores (:func:`can_score`), else after one ``no_grad`` forward.

    Parameters
    ----------
    attributor
        Any attributor.
    inputs
        ``[N, C, H, W]``, preprocessed for the model.
    target, top_k, additional_forward_args
        As :meth:`attribkit.Attributor.attribute`.

    Returns
    -------
    Scored
        Attributions ``[N, K, C', H, W]``, scores ``[N, num_classes]``, the targets.

    Raises
    ------
    TargetError
        A target that does not fit (as ``attribute``).
    PluginError
        An attributor whose answer is not ``[N, K, C, H, W]`` for ``[N, K]`` targets.
    """
    if can_score(attributor):
        return getattr(attributor, SCORED)(inputs, target, top_k=top_k,
                                          additional_forward_args=additional_forward_args)
    extra = tuple(additional_forward_args or ())
    with frozen(attributor.model, eval_mode=bool(getattr(attributor, "eval_mode", True))), torch.no_grad():
        scores = class_scores(attributor.model, inputs, *extra).detach()
    targets = resolve_targets(target, top_k, scores)
    out = attributor.attribute(inputs, target=targets.index, additional_forward_args=additional_forward_args)
    return Scored(checked_per_class(attributor, out, targets.index), scores, targets)


def checked_per_class(attributor: Any, out: Any, index: torch.Tensor) -> torch.Tensor:
    """``out``, what ``attributor.attribute`` returned for ``[N, K]`` targets ``index``, if it is the
    ``[N, K, C, H, W]`` the contract promises; :class:`~attribkit.errors.PluginError` naming the class
    otherwise (a third-party method that drops the K axis would be misread downstream)."""
    if not isinstance(out, torch.Tensor) or out.ndim != 5 or tuple(out.shape[:2]) != tuple(index.shape):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(f"{type(attributor).__name__}.attribute() broke the contract: [N, K] targets of shape "
                          f"{tuple(index.shape)} gave {shape}; expected [N, K, C, H, W]")
    return out
