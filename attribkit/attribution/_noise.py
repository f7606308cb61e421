"""SmoothGrad (Smilkov et al. 2017) and VarGrad (Adebayo et al. 2018): statistics of an attributor's
answers over noisy copies of the input, around any attributor."""

from __future__ import annotations

from typing import Any

import torch

from attribkit._core.interfaces import Attributor
from attribkit.attribution._averaging import Averaging, AveragingOptions, repeat_args
from attribkit.errors import OptionError


class SmoothGrad(Averaging):
    """The mean attribution over ``samples`` noisy copies of each image (SmoothGrad, Smilkov et al. 2017,
    eq. 2).

    Copy ``s`` of image ``n`` is ``x_n + σ_n ε_s`` with ``σ_n = noise (max x_n − min x_n)`` (the paper's
    noise level: a fraction of the image's value range, so the setting suits any input normalisation) and
    ``ε_s`` standard normal noise. The noise comes from a generator of its own, seeded with ``seed`` on
    every call and drawn on the CPU: the same input gives the same answer on every call and device, and
    the caller's random state is untouched. Every image of a batch meets the same ``ε_s`` (scaled by its
    own ``σ_n``), so an image's answer does not depend on the batch it came in. The classes are resolved
    on the clean images.

    Parameters
    ----------
    attributor
        Any attributor.
    samples
        Noisy copies per image (the paper: 50; gains level off beyond).
    noise
        ``σ`` as a fraction of each image's value range ``max − min`` (the paper recommends 0.10–0.20).
    seed
        Seed of the noise generator.
    chunk
        Noisy copies per image in one call of the wrapped attributor (a batch of ``chunk N`` images).

    Example
    -------
    >>> smooth = SmoothGrad(attribkit.create_attributor("saliency", model), samples=25)   # doctest: +SKIP
    """

    #: Also accumulate squares (VarGrad needs the second moment).
    _squares = False

    def __init__(
        self,
        attributor: Attributor,
        *,
        samples: int = 25,
        noise: float = AveragingOptions.noise,
        seed: int = 0,
        chunk: int = 8,
    ) -> None:
        super().__init__(attributor)
        for name, value in (("samples", samples), ("chunk", chunk)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"bad averaging option: {name} must be an int >= 1; got {value!r}")
        if not noise >= 0:
            raise OptionError(f"bad averaging option: noise must be >= 0 (a fraction of the input's range); "
                              f"got {noise!r}")
        self.samples, self.noise, self.seed, self.chunk = samples, float(noise), int(seed), chunk

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.attributor!r}, samples={self.samples}, noise={self.noise:g})"

    def _average(self, inputs: torch.Tensor, index: torch.Tensor, extra: tuple[Any, ...]) -> torch.Tensor:
        n = inputs.shape[0]
        x = inputs.detach()
        # σ per image, in double as a Python float would be, then in the input's dtype.
        span = x.flatten(1).amax(1).double() - x.flatten(1).amin(1).double()
        sigma = (self.noise * span).to(x.dtype).view(1, n, *([1] * (x.ndim - 1)))
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        total = squares = None
        done = 0
        while done < self.samples:
            m = min(self.chunk, self.samples - done)
            eps = torch.randn((m, *x.shape[1:]), generator=generator).to(x)
            noisy = (x.unsqueeze(0) + sigma * eps.unsqueeze(1)).reshape(m * n, *x.shape[1:])
            out = self._attribute(noisy, index.repeat(m, 1), repeat_args(extra, m))
            out = out.reshape(m, n, *out.shape[1:])
            part = out.sum(0)
            total = part if total is None else total + part
            if self._squares:
                part = (out * out).sum(0)
                squares = part if squares is None else squares + part
            done += m
        assert total is not None
        return self._statistic(total / self.samples, None if squares is None else squares / self.samples)

    def _statistic(self, mean: torch.Tensor, mean_square: torch.Tensor | None) -> torch.Tensor:
        return mean


class VarGrad(SmoothGrad):
    """The variance of the attribution over noisy copies of each image (VarGrad, Adebayo et al. 2018,
    "Sanity checks for saliency maps"): ``E[a²] − E[a]²`` over the copies, as Captum's
    ``NoiseTunnel(nt_type="vargrad")``. Noise, seed and options as :class:`SmoothGrad`.

    Example
    -------
    >>> var = VarGrad(attribkit.create_attributor("saliency", model), samples=25)   # doctest: +SKIP
    """

    _squares = True

    def _statistic(self, mean: torch.Tensor, mean_square: torch.Tensor | None) -> torch.Tensor:
        assert mean_square is not None
        # A variance is never negative; E[a²] − E[a]² can round below zero where the copies agree.
        return (mean_square - mean * mean).clamp(min=0)
