"""The verb users call: a registered method, built and wrapped in the averaging it was asked for."""

from __future__ import annotations

from typing import Any

import torch

from attribkit._core.interfaces import Attributor
from attribkit._core.registry import get_registry
from attribkit.attribution._averaging import AVERAGING_OPTIONS, AveragingOptions
from attribkit.attribution._noise import SmoothGrad, VarGrad
from attribkit.attribution._scales import MultiScale
from attribkit.attribution._tencrop import TenCrop
from attribkit.errors import OptionError

def with_averaging(attributor: Attributor, averaging: AveragingOptions | None = None, **options: Any) -> Attributor:
    """``attributor`` wrapped in the averaging asked for, innermost first:
    ``MultiScale(SmoothGrad(TenCrop(attributor)))``.

    Each scale's input is explained by SmoothGrad, whose every noisy copy is explained over the 10 crops.
    With every option at its default the attributor itself comes back.

    Parameters
    ----------
    attributor
        Any attributor.
    averaging
        The options as one checked object (or give them as keywords instead).
    **options
        ``ten_crop``, ``crop_fraction`` (:class:`~attribkit.attribution.TenCrop`: the paper's 10 crops and
        flips), ``smoothgrad`` / ``vargrad`` (:class:`~attribkit.attribution.SmoothGrad` /
        :class:`~attribkit.attribution.VarGrad` over this many noisy copies; 0: off), ``noise`` (their
        noise level), ``scales`` (:class:`~attribkit.attribution.MultiScale`; ``(1.0,)``: off). Defaults
        and ranges: :class:`~attribkit.attribution.AveragingOptions`.

    Raises
    ------
    OptionError
        An unknown option, one out of its range, ``smoothgrad`` and ``vargrad`` both given, or both
        ``averaging`` and keywords.
    """
    if averaging is None:
        averaging = AveragingOptions.from_options(options)
    elif options:
        raise OptionError(f"give averaging= or averaging keywords, not both; got {sorted(options)}")
    wrapped = attributor
    if averaging.ten_crop:
        wrapped = TenCrop(wrapped, crop_fraction=averaging.crop_fraction)
    if averaging.smoothgrad:
        wrapped = SmoothGrad(wrapped, samples=int(averaging.smoothgrad), noise=averaging.noise)
    if averaging.vargrad:
        wrapped = VarGrad(wrapped, samples=int(averaging.vargrad), noise=averaging.noise)
    if averaging.scales != (1.0,):
        wrapped = MultiScale(wrapped, scales=averaging.scales)
    return wrapped


def create_attributor(name: str, model: torch.nn.Module, **options: Any) -> Attributor:
    """Build the attributor registered as ``name`` for ``model``, wrapped in the averaging asked for.

    Parameters
    ----------
    name
        A registered attributor (``attribkit.list_attributors()``).
    model
        The classifier.
    **options
        The averaging options (``ten_crop``, ``crop_fraction``, ``smoothgrad``, ``vargrad``, ``noise``,
        ``scales``: see :func:`with_averaging`), for every method alike, and the method's own options
        (``attribkit plugins`` lists them).

    Returns
    -------
    Attributor
        The method, or the wrappers around it (each also an :class:`~attribkit.Attributor`).

    Raises
    ------
    UnknownMethodError
        No attributor of that name (close names suggested).
    OptionError
        An option neither the averaging nor the method takes, or an averaging option out of its range.

    Example
    -------
    >>> sal = create_attributor("saliency", model, ten_crop=True)         # doctest: +SKIP
    >>> cam = create_attributor("captum:gradcam", model, smoothgrad=8)    # doctest: +SKIP
    """
    averaging = AveragingOptions.from_options({k: options.pop(k) for k in AVERAGING_OPTIONS if k in options})
    method = get_registry().get("attributor", name).create(model, also=AVERAGING_OPTIONS, **options)
    return with_averaging(method, averaging)
