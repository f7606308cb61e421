"""The study's map precision: ``fp32`` (the default), or ``bf16`` / ``fp16`` autocast for the maps' forward and
backward (``torch.autocast``; Micikevicius et al. 2018, "Mixed precision training", for why the reductions
and the weights stay float32).

Only the attribution runs under autocast (:func:`attribkit.localisation._maps.crop_maps`: the model's
forward and the backward to the input); what it returns is float32. The rule engine's backward rules
compute in float32 whatever dtype reaches them (:mod:`attribkit.rules._function`), and everything measured
from a map stays float32: the forward that picks the classes, the deletion and insertion curves, ROAD,
the sanity check and the localisers. A method that draws on no model (``random``) is unaffected; a
bridge to another library (Captum, Zennit) runs its own forward and backward under the same autocast.

``fp16`` has float32's exponent range cut to 2^-24 .. 65504: a small input gradient (about 1e-8 and
below) underflows to zero, which bf16 (float32's range, 8 bits of mantissa) does not. bf16 is the choice
for attributions; docs/studies.md gives the maximum difference to float32 measured per method and how
often it moves a box.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from attribkit.errors import OptionError

#: ``precision`` → the autocast dtype (``None``: float32, no autocast).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    """``precision`` itself; :class:`~attribkit.errors.OptionError` naming the known ones otherwise."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """``torch.autocast`` on ``device``'s type at ``precision``'s dtype; nothing for ``"fp32"``."""
    dtype = PRECISIONS[check_precision(precision)]
    if dtype is None:
        yield
        return
    with torch.autocast(device.type, dtype=dtype):
        yield
