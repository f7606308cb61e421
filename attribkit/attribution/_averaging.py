"""What every averaging wrapper shares: the wrapped attributor, the targets of the whole input, and the
``attribute()`` contract around an average over transformed copies of the input.

A wrapper explains the classes of the input it was given: ``None`` and ``top_k`` are resolved once, on the
whole, clean, full-size input, and the wrapped attributor is asked for those classes on every crop, noisy
copy or scale. Otherwise each noisy copy or crop could pick a top-1 class of its own.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from attribkit._core.guards import check_inputs, frozen
from attribkit._core.interfaces import Attributor, TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.scored import Scored, checked_per_class
from attribkit._core.targets import Targets, needs_scores, resolve_targets
from attribkit.errors import OptionError, close_matches, did_you_mean


@dataclass(frozen=True)
class AveragingOptions:
    """The averaging around an attributor, checked: the one definition of the averaging options, their
    defaults and their ranges (:func:`~attribkit.attribution.with_averaging`, ``create_attributor``,
    :class:`~attribkit.Recipe`, a study's map labels and the command line read them from here).

    Values are kept as given (``noise=0`` stays an int: map labels name them as written), except
    ``scales``, which becomes a tuple of floats (one number is one scale).

    Attributes
    ----------
    ten_crop
        :class:`~attribkit.attribution.TenCrop`: the paper's 10 crops and flips (a bool).
    crop_fraction
        Side of a crop relative to the input, in ``(0, 1]``.
    smoothgrad
        :class:`~attribkit.attribution.SmoothGrad` over this many noisy copies (an int ``>= 0``; 0: off).
    vargrad
        :class:`~attribkit.attribution.VarGrad` over this many noisy copies (0: off; not with ``smoothgrad``).
    noise
        The noise level of either, a fraction ``>= 0`` of each image's value range.
    scales
        :class:`~attribkit.attribution.MultiScale` over these input scales, each ``> 0`` (``(1.0,)``: off).

    Raises
    ------
    OptionError
        A value of the wrong type or out of its range, or ``smoothgrad`` and ``vargrad`` both given; the
        message names the option.

    Example
    -------
    >>> AveragingOptions(ten_crop=True).changed()
    {'ten_crop': True}
    """

    ten_crop: bool = False
    crop_fraction: float = 224 / 256
    smoothgrad: int = 0
    vargrad: int = 0
    noise: float = 0.15
    scales: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if not isinstance(self.ten_crop, bool):
            raise OptionError(f"averaging option ten_crop takes true or false; got {self.ten_crop!r}")
        if not _real(self.crop_fraction) or not 0.0 < self.crop_fraction <= 1.0:
            raise OptionError(f"averaging option crop_fraction must be a number in (0, 1]; got {self.crop_fraction!r}")
        for name in ("smoothgrad", "vargrad"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise OptionError(f"averaging option {name} must be an int >= 0 (noisy samples; 0: off); "
                                  f"got {value!r}")
        if self.smoothgrad and self.vargrad:
            raise OptionError(f"give smoothgrad or vargrad, not both; got smoothgrad={self.smoothgrad}, "
                              f"vargrad={self.vargrad}")
        if not _real(self.noise) or not 0.0 <= self.noise < math.inf:
            raise OptionError(f"averaging option noise must be >= 0 (a fraction of the input's range); "
                              f"got {self.noise!r}")
        scales = self.scales if isinstance(self.scales, (Sequence, torch.Tensor)) and not isinstance(
            self.scales, str) else (self.scales,)
        if not len(scales) or not all(_real(s) and 0.0 < s < math.inf for s in scales):
            raise OptionError(f"averaging option scales must be one or more positive numbers; got {self.scales!r}")
        object.__setattr__(self, "scales", tuple(float(s) for s in scales))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AveragingOptions:
        """From a mapping of averaging options; an unknown name is an :class:`~attribkit.errors.OptionError`
        (close names suggested)."""
        for key in options:
            if key not in AVERAGING_OPTIONS:
                hint = did_you_mean(close_matches(key, AVERAGING_OPTIONS))
                raise OptionError(f"unknown averaging option {key!r}.{hint} Known: {', '.join(AVERAGING_OPTIONS)}.")
        return cls(**options)

    def as_dict(self) -> dict[str, Any]:
        """Every option, defaults included."""
        return asdict(self)

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults (``noise`` only with SmoothGrad or VarGrad, the only
        ones it affects): what a map's label names."""
        default = AveragingOptions()
        out = {k: v for k, v in self.as_dict().items() if v != getattr(default, k)}
        if not (self.smoothgrad or self.vargrad):
            out.pop("noise", None)
        return out

    @property
    def plain(self) -> bool:
        """True when no wrapper is needed (the attributor's own map)."""
        return not (self.ten_crop or self.smoothgrad or self.vargrad) and self.scales == (1.0,)


#: The names of the averaging options, in the order they nest (everything else given to
#: ``create_attributor`` is the method's own).
AVERAGING_OPTIONS: tuple[str, ...] = tuple(f.name for f in fields(AveragingOptions))


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


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

    def attribute_scored(
        self,
        inputs: torch.Tensor,
        target: TargetType = None,
        *,
        top_k: int | None = None,
        additional_forward_args: tuple[Any, ...] | None = None,
    ) -> Scored:
        """:meth:`attribute` and the clean inputs' class scores that chose the targets, without a second
        forward pass for them (see :func:`attribkit.attribution.attribute_scored`).

        Returns
        -------
        Scored
            The average ``[N, K, C', H, W]``, the scores ``[N, num_classes]`` of ``inputs``, the targets.
        """
        check_inputs(inputs)
        return self._average_scored(inputs, target, top_k, tuple(additional_forward_args or ()))

    def _average_scored(
        self, inputs: torch.Tensor, target: TargetType, top_k: int | None, extra: tuple[Any, ...]
    ) -> Scored:
        # The copies (crops, noisy images) are not the clean input: its scores cost this one forward,
        # which also chooses the classes.
        scores = self._scores(inputs, extra)
        targets = resolve_targets(target, top_k, scores)
        return Scored(self._average(inputs, targets.index, extra), scores, targets)

    def _scores(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        with frozen(self.model, eval_mode=self.eval_mode), torch.no_grad():
            return class_scores(self.model, inputs, *extra)

    def _targets(
        self, inputs: torch.Tensor, target: TargetType, top_k: int | None, extra: tuple[Any, ...]
    ) -> Targets:
        if not needs_scores(target, top_k):
            # Explicit classes need no forward pass; the wrapped attributor checks their range.
            return resolve_targets(target, top_k, batch=inputs.shape[0])
        return resolve_targets(target, top_k, self._scores(inputs, extra))

    def _average(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        raise NotImplementedError

    def _attribute(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        """The wrapped attributor on (transformed) inputs for ``[N', K]`` classes: ``[N', K, C', H', W']``."""
        out = self.attributor.attribute(inputs, target=index, additional_forward_args=extra or None)
        return checked_per_class(self.attributor, out, index)


def repeat_args(extra: tuple[Any, ...], times: int) -> tuple[Any, ...]:
    """Batched tensor arguments follow their images into ``times`` copies (copy-major order)."""
    return tuple(
        a.repeat(times, *([1] * (a.ndim - 1))) if isinstance(a, torch.Tensor) and a.ndim else a
        for a in extra
    )
