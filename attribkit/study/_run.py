"""One study run's state: what ``run_study``'s (or ``evaluate``'s) keywords ask for, held once.

The runner, the compute loop and its map and box stages read this object rather than passing a dozen
parameters down each call; ``run_study``'s keywords stay the public way to make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class StudyRun:
    """What one run of a study computes with (see :func:`attribkit.study.run_study` for each field).

    The counts are checked when the run starts (:func:`attribkit.study._runner.compute_records`), not here,
    so a run can be described before it is validated.
    """

    model: torch.nn.Module
    out: Path
    workers: int = 0
    """Localiser processes beside the maps (``0``: in this process)."""
    steps: int = 16
    """Steps of the deletion and insertion curves (``0``: none)."""
    batch_size: int = 64
    """Perturbed images per forward pass of the curves."""
    gallery: int = 8
    """How many photos (the first ones) get gallery pictures."""
    top_k: int = 5
    map_batch: int | str = 8
    """Photos per batch of maps, or ``"auto"`` (:mod:`attribkit.study._sizing`)."""
    loader_workers: int = 0
    """Processes decoding the photos ahead of the maps (``0``: in this process; :mod:`attribkit.study._loader`)."""
    precision: str = "fp32"
    """``fp32``, or ``bf16`` / ``fp16`` autocast for the maps (:mod:`attribkit.study._precision`)."""
    road: int = 0
    sanity: int = 0
    distributed: bool | None = None
    shard: tuple[int, int] | None = None
    """Shard ``(i, n)`` run alone (:func:`attribkit.study._distributed.current_shard`); ``None``: all photos,
    or ``torchrun``'s ranks."""
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
