"""Class maps for a batch of photos: one forward (and one batched backward) for B photos × K classes.

A study computes maps batch by batch rather than photo by photo. Two things keep a photo's map independent
of which photos share its batch, so a resumed or sharded study writes the records of an uninterrupted one:

- **Fixed shapes.** PyTorch's CPU and GPU kernels choose their algorithm by tensor shape, and a sample's
  result can change in its last bits with the batch size (measured on EfficientNet-Lite0 on CPU: a
  10-crop map differs by up to 3e-3 between a batch of 1 and one of 16 photos). Every batch is therefore
  padded to the study's batch size (repeating its last photo) and every photo's class list to the
  study's class count (repeating its last class), so the kernels always see the same shapes; a sample's
  result then does not depend on its neighbours (tested on the tiny test network and measured on
  EfficientNet-Lite0: see tests/test_study_settings.py and docs/studies.md).
- **Per-photo noise.** SmoothGrad's noise is drawn from a generator of the photo's own (seeded the same
  way for every photo, as :func:`attribkit.localisation.class_saliency` does), not from one stream for the
  batch. A method drawing from torch's *global* generator gets one seed per batch, from the names of the
  photos in it: its maps are repeatable for the same batches but change when a resumed or sharded run
  groups the photos differently (``map_batch=1`` makes every batch one photo: today's per-photo seeds).
  The built-in ``random`` draws from a generator seeded by the image's own bytes, so it is unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from attribkit._core.interfaces import Attributor
from attribkit.attribution import saliency_map

#: SmoothGrad's noisy copies per forward pass, per photo (as :func:`attribkit.localisation.class_saliency`).
SMOOTHGRAD_CHUNK = 8


def crop_maps(attributor: Attributor, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Saliency maps of K classes of B images: ``attribute(inputs, target=[B, K])`` then the colour max.

    Parameters
    ----------
    attributor
        Any attributor accepting ``[B, K]`` targets.
    inputs
        ``[B, C, H, W]`` model inputs (the photos' crops, stacked).
    targets
        ``[B, K]`` class indices (long).

    Returns
    -------
    torch.Tensor
        ``[B, K, H, W]`` float maps, ``max_c |attribution|`` (paper section 3.1).
    """
    if targets.ndim != 2 or targets.shape[0] != inputs.shape[0]:
        raise ValueError(f"targets must be [B, K] for {inputs.shape[0]} inputs; got {tuple(targets.shape)}")
    return saliency_map(attributor.attribute(inputs, target=targets).detach()).float()


def _smoothgrad(attributor: Attributor, x: torch.Tensor, targets: torch.Tensor, samples: int,
                noise: float) -> torch.Tensor:
    """``[B, K, H, W]``: the map of the mean gradient over ``samples`` noisy copies of each photo.

    Each photo's noise comes from its own generator seeded 0, in chunks of :data:`SMOOTHGRAD_CHUNK`:
    the very noise :func:`~attribkit.localisation.class_saliency` draws for that photo alone.
    """
    b = x.shape[0]
    generators = [torch.Generator(device="cpu").manual_seed(0) for _ in range(b)]
    sigma = noise * (x.flatten(1).amax(1) - x.flatten(1).amin(1))  # per photo: a fraction of its range
    total = None
    done = 0
    while done < samples:
        n = min(SMOOTHGRAD_CHUNK, samples - done)
        draws = torch.stack([torch.randn((n, *x.shape[1:]), generator=g) for g in generators]).to(x)
        noisy = (x[:, None] + sigma.view(b, 1, 1, 1, 1) * draws).flatten(0, 1)  # photo-major [B * n]
        grads = attributor.attribute(noisy, target=targets.repeat_interleave(n, dim=0)).detach()
        grads = grads.reshape(b, n, *grads.shape[1:]).sum(1)
        total = grads if total is None else total + grads
        done += n
    assert total is not None
    return saliency_map(total / samples).float()


def batch_maps(
    attributor: Attributor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    smoothgrad: int = 0,
    noise: float = 0.15,
    scales: Sequence[float] = (1.0,),
) -> torch.Tensor:
    """Maps of K classes of B photos with the map options of :func:`~attribkit.localisation.class_saliency`.

    Parameters
    ----------
    inputs, targets
        ``[B, C, H, W]`` and ``[B, K]``.
    smoothgrad, noise
        Average the gradients of this many noisy copies (Smilkov et al. 2017), noise as a fraction of each
        photo's value range; 0: off.
    scales
        Input sizes relative to the crop; each scale's maps are resized back, scaled to mean 1, averaged.

    Returns
    -------
    torch.Tensor
        ``[B, K, H, W]`` float32 on the inputs' device; photo ``i`` equals ``class_saliency`` of photo ``i``
        alone up to the float effects of batching (see the module's docstring).
    """
    size = inputs.shape[-2:]
    total = None
    for s in scales:
        if s <= 0:
            raise ValueError(f"scales must be positive; got {s}")
        xs = inputs if s == 1.0 else F.interpolate(inputs, scale_factor=float(s), mode="bilinear",
                                                   align_corners=False)
        m = crop_maps(attributor, xs, targets) if smoothgrad <= 0 else _smoothgrad(
            attributor, xs, targets, smoothgrad, noise)
        if m.shape[-2:] != size:
            m = F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=False)
        if len(scales) > 1:
            m = m / m.mean(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
        total = m if total is None else total + m
    assert total is not None
    return total / len(scales)


def pad_rows(rows: Sequence[Sequence[int]], width: int) -> list[list[int]]:
    """Each class list repeated at its end up to ``width`` entries (fixed shapes; see the module)."""
    if any(not r or len(r) > width for r in rows):
        raise ValueError(f"every photo needs 1 to {width} classes; got {[len(r) for r in rows]}")
    return [list(r) + [r[-1]] * (width - len(r)) for r in rows]


def pad_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """``[b, ...]`` → ``[size, ...]``, the last row repeated (fixed shapes; see the module)."""
    if x.shape[0] > size:
        raise ValueError(f"a batch of {x.shape[0]} exceeds the batch size {size}")
    if x.shape[0] == size:
        return x
    return torch.cat([x, x[-1:].expand(size - x.shape[0], *x.shape[1:])])
