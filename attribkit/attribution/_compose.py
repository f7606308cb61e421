"""The verb users call: a registered method, built and wrapped in the averaging it was asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from attribkit._core.interfaces import Attributor
from attribkit._core.registry import get_registry
from attribkit.attribution._noise import SmoothGrad, VarGrad
from attribkit.attribution._scales import MultiScale
from attribkit.attribution._tencrop import TenCrop
from attribkit.errors import OptionError

#: The options :func:`with_averaging` takes (everything else given to :func:`create_attributor` is the
#: method's own).
AVERAGING_OPTIONS = ("ten_crop", "crop_fraction", "smoothgrad", "vargrad", "noise", "scales")


def with_averaging(
    attributor: Attributor,
    *,
    ten_crop: bool = False,
    crop_fraction: float = 224 / 256,
    smoothgrad: int = 0,
    vargrad: int = 0,
    noise: float = 0.15,
    scales: Sequence[float] = (1.0,),
) -> Attributor:
    """``attributor`` wrapped in the averaging asked for, innermost first:
    ``MultiScale(SmoothGrad(TenCrop(attributor)))``.

    Each scale's input is explained by SmoothGrad, whose every noisy copy is explained over the 10 crops.
    With every option at its default the attributor itself comes back.

    Parameters
    ----------
    attributor
        Any attributor.
    ten_crop, crop_fraction
        :class:`~attribkit.attribution.TenCrop`: the paper's 10 crops and flips.
    smoothgrad
        :class:`~attribkit.attribution.SmoothGrad` over this many noisy copies (0: off).
    vargrad
        :class:`~attribkit.attribution.VarGrad` over this many noisy copies (0: off; not with
        ``smoothgrad``).
    noise
        The noise level of either, as a fraction of each image's value range.
    scales
        :class:`~attribkit.attribution.MultiScale` over these input scales (``(1.0,)``: off).

    Raises
    ------
    OptionError
        ``smoothgrad`` and ``vargrad`` both given.
    ValueError
        An option out of its range (the wrapper's message).
    """
    if smoothgrad and vargrad:
        raise OptionError(f"give smoothgrad or vargrad, not both; got smoothgrad={smoothgrad}, vargrad={vargrad}")
    wrapped = attributor
    if ten_crop:
        wrapped = TenCrop(wrapped, crop_fraction=crop_fraction)
    if smoothgrad:
        wrapped = SmoothGrad(wrapped, samples=smoothgrad, noise=noise)
    if vargrad:
        wrapped = VarGrad(wrapped, samples=vargrad, noise=noise)
    if tuple(float(s) for s in scales) != (1.0,):
        wrapped = MultiScale(wrapped, scales=scales)
    return wrapped


def create_attributor(
    name: str,
    model: torch.nn.Module,
    *,
    ten_crop: bool = False,
    crop_fraction: float = 224 / 256,
    smoothgrad: int = 0,
    vargrad: int = 0,
    noise: float = 0.15,
    scales: Sequence[float] = (1.0,),
    **options: Any,
) -> Attributor:
    """Build the attributor registered as ``name`` for ``model``, wrapped in the averaging asked for.

    Parameters
    ----------
    name
        A registered attributor (``attribkit.list_attributors()``).
    model
        The classifier.
    ten_crop, crop_fraction, smoothgrad, vargrad, noise, scales
        Averaging around the method, for every method alike: see :func:`with_averaging`.
    **options
        The method's own options (``attribkit plugins`` lists them).

    Returns
    -------
    Attributor
        The method, or the wrappers around it (each also an :class:`~attribkit.Attributor`).

    Raises
    ------
    UnknownMethodError
        No attributor of that name (close names suggested).
    OptionError
        An option neither the averaging nor the method takes.

    Example
    -------
    >>> sal = create_attributor("saliency", model, ten_crop=True)         # doctest: +SKIP
    >>> cam = create_attributor("captum:gradcam", model, smoothgrad=8)    # doctest: +SKIP
    """
    method = get_registry().get("attributor", name).create(model, also=AVERAGING_OPTIONS, **options)
    return with_averaging(method, ten_crop=ten_crop, crop_fraction=crop_fraction, smoothgrad=smoothgrad,
                          vargrad=vargrad, noise=noise, scales=scales)
