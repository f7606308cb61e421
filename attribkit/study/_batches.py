"""Shapes of a study's map batches: B photos × K classes in one ``crop_maps`` call (one forward and one
batched backward), padded so that a photo's map does not depend on its neighbours.

A study computes maps batch by batch rather than photo by photo
(:func:`attribkit.localisation._maps.crop_maps`). Two things keep a photo's map independent of which
photos share its batch, so a resumed or sharded study writes the records of an uninterrupted one:

- **Fixed shapes.** PyTorch's CPU and GPU kernels choose their algorithm by tensor shape, and a sample's
  result can change in its last bits with the batch size (measured on EfficientNet-Lite0 on CPU: a
  10-crop map differs by up to 3e-3 between a batch of 1 and one of 16 photos). Every batch is therefore
  padded to the study's batch size (repeating its last photo) and every photo's class list to the
  study's class count (repeating its last class), so the kernels always see the same shapes; a sample's
  result then does not depend on its neighbours (tested on the tiny test network and measured on
  EfficientNet-Lite0: see tests/test_study_settings.py and docs/studies.md).
- **Per-image noise.** The :class:`~attribkit.attribution.SmoothGrad` and ``VarGrad`` wrappers give every
  image of a batch the same noise draws (scaled by its own range), so an image's answer does not depend
  on its batch. A method drawing from torch's *global* generator gets one seed per batch, from the names
  of the photos in it: its maps are repeatable for the same batches but change when a resumed or sharded
  run groups the photos differently (``map_batch=1`` makes every batch one photo: one seed per photo).
  The built-in ``random`` draws from a generator seeded by the image's own bytes, so it is unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


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
