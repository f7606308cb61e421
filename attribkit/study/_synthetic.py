"""A large annotated study that never touches the disk: synthetic photos generated when the study reads them
(the stand-in for ILSVRC's 50,000 validation photos in ``bench/study_dry_run.py`` and the shard tests)."""

from __future__ import annotations

from functools import partial

import numpy as np

from attribkit.data._synthetic import synthetic_photo
from attribkit.study._data import StudyImage


def synthetic_study_images(count: int, *, classes: int = 10, size: tuple[int, int] = (40, 48),
                           seed: int = 0) -> list[StudyImage]:
    """``count`` annotated :class:`~attribkit.study.StudyImage` of :func:`~attribkit.data._synthetic.synthetic_photo` (label
    ``index % classes``, one box), each generated when the study reads it: a stand-in for a large
    annotated set (the 50,000-photo dry run of ``bench/study_dry_run.py``) that never touches the disk.
    Names are ``synthetic00000`` ... (five digits or more, so they sort in the data's order).
    """
    digits = max(5, len(str(count - 1)))
    items = []
    for i in range(count):
        box = synthetic_photo(i, size=size, seed=seed)[1]
        items.append(StudyImage(f"synthetic{i:0{digits}d}", partial(_photo_only, i, size, seed), i % classes, (box,)))
    return items


def _photo_only(index: int, size: tuple[int, int], seed: int) -> np.ndarray:
    return synthetic_photo(index, size=size, seed=seed)[0]
