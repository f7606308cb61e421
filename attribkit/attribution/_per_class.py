"""``PerClassAttributor``: the template base for methods that explain one class per image per call.

Captum, pytorch-grad-cam and Zennit explain one target per image per call, and Grad-CAM differentiates
one class at a time: ``[N, K]`` targets and ``top_k`` loop over K. The base writes that loop once (the
checks, the model's mode, the scores that choose the classes, the stacking to ``[N, K, ...]``), in the
style of pytorch-grad-cam's ``BaseCAM``: a subclass overrides one method, :meth:`attribute_class`
(Captum's methods, the template plugin), or :meth:`explaining` when the classes share work done once
per call (Grad-CAM's forward pass, a library object that hooks the model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from attribkit._core.guards import check_inputs, check_model, frozen
from attribkit._core.interfaces import TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.scored import Scored, ScoresItsForward
from attribkit._core.targets import resolve_targets

#: What :meth:`PerClassAttributor.explaining` yields: the class scores ``[N, num_classes]`` that choose
#: the targets, and a function from one class per image (``[N]`` indices) to its maps ``[N, C', H, W]``.
Explainer = tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


class PerClassAttributor(ScoresItsForward):
    """Base of an attributor that explains one class per image per call; the base loops over K classes
    (K classes cost K calls of :meth:`attribute_class`, after the one forward pass that chose them).

    Override :meth:`attribute_class`; override :meth:`explaining` instead when work is shared by the
    classes of one call. Everything else of :meth:`attribkit.Attributor.attribute` (input checks, int,
    ``[N]`` and ``[N, K]`` targets, ``top_k``, the model's mode restored, the output's shape) is the
    base's.

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]`` (or a tuple, dict or
        ``ModelOutput`` holding them: :func:`attribkit.class_scores`).
    eval_mode
        Run the model in eval mode (restored afterwards, even after an exception).

    Raises
    ------
    OptionError
        ``model`` is not a ``torch.nn.Module`` (a ``TypeError`` too).

    Example
    -------
    >>> class InputXGradient(PerClassAttributor):
    ...     def attribute_class(self, inputs, target, extra):
    ...         score = class_scores(self.model, inputs, *extra).gather(1, target[:, None]).sum()
    ...         (grad,) = torch.autograd.grad(score, inputs)
    ...         return inputs.detach() * grad
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> InputXGradient(net).attribute(torch.ones(2, 3, 2, 2), top_k=2).shape
    torch.Size([2, 2, 3, 2, 2])
    """

    #: The method hooks the model in a way other threads' forward passes would meet (a library's module
    #: hooks, rewritten parameters): its calls then have the model to themselves (``frozen(exclusive=)``).
    exclusive: bool = False

    def __init__(self, model: torch.nn.Module, *, eval_mode: bool = True) -> None:
        self.model = check_model(model)
        self.eval_mode = eval_mode

    def attribute_class(self, inputs: torch.Tensor, target: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        """The maps of class ``target[i]`` for image ``i``: the one method a subclass must write.

        Called with gradients enabled and the model frozen (:func:`attribkit.frozen`).

        Parameters
        ----------
        inputs
            ``[N, C, H, W]``, a leaf that requires grad (the same tensor for every class of a call).
        target
            ``[N]`` class indices (int64), one per image.
        extra
            The call's ``additional_forward_args``: the model is called as ``model(inputs, *extra)``.

        Returns
        -------
        torch.Tensor
            ``[N, C', H, W]`` (``C'`` is ``C`` for input-space methods, 1 for class-activation maps).
        """
        raise NotImplementedError(f"{type(self).__name__} must override attribute_class() or explaining()")

    @contextmanager
    def explaining(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> Iterator[Explainer]:
        """One call's class scores and per-class function, for the duration of the call.

        The default runs a forward pass without gradient for the scores and calls :meth:`attribute_class`
        per class on a copy of ``inputs`` that requires grad. Override it when the classes share work: a
        forward pass whose graph every class's backward pass reuses, or a library object that hooks the
        model (release it in ``finally``). Entered with the model frozen.

        Parameters
        ----------
        inputs
            ``[N, C, H, W]``, detached from any graph.
        extra
            The call's ``additional_forward_args``.

        Yields
        ------
        Explainer
            ``(scores [N, num_classes], one_class)`` with ``one_class(target [N]) -> [N, C', H, W]``.
        """
        with torch.no_grad():
            scores = class_scores(self.model, inputs, *extra)
        x = inputs.clone().requires_grad_(True)

        def one_class(target: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                return self.attribute_class(x, target, extra).detach()

        yield scores, one_class

    def attribute_scored(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> Scored:
        """:meth:`~attribkit.Attributor.attribute` (``[N, K, C', H, W]``) and the class scores :meth:`explaining`
        yielded, which chose the targets: a caller needs no forward pass of its own for them
        (:func:`attribkit.attribution.attribute_scored`).

        Returns
        -------
        Scored
            The maps, the scores ``[N, num_classes]`` (detached), the targets.
        """
        check_inputs(inputs)
        extra = tuple(additional_forward_args or ())
        with frozen(self.model, eval_mode=self.eval_mode, exclusive=self.exclusive):
            with self.explaining(inputs.detach(), extra) as (scores, one_class):
                targets = resolve_targets(target, top_k, scores)
                maps = [one_class(targets.index[:, k]) for k in range(targets.k)]
        return Scored(torch.stack(maps, dim=1), scores.detach(), targets)
