"""What a study runs on: photos with an optional class label and ground-truth boxes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import torch

from attribkit._core.interfaces import Box
from attribkit.data._annotations import AnnotatedImage
from attribkit.errors import AnnotationError, AttribkitError, InputError, OptionError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class StudyImage:
    """One photo of a study.

    Attributes
    ----------
    name
        Unique within the study: the key of its records and the stem of its gallery files.
    source
        A file path, or a function returning ``[H, W, 3]`` uint8 RGB.
    label
        The class to explain (``None``: the model's top-1).
    boxes
        Ground-truth boxes of ``label`` in the photo's pixels (empty: no localisation accuracy).
    """

    name: str
    source: Union[Path, Callable[[], np.ndarray]]
    label: int | None = None
    boxes: tuple[Box, ...] = field(default_factory=tuple)

    def read(self) -> Union[Path, np.ndarray]:
        return self.source if isinstance(self.source, Path) else self.source()

    @property
    def annotation(self) -> str | None:
        """A digest of what the annotations decide for this photo (its label and boxes), stored in each of its
        records: a record computed from annotations since corrected is not reused. ``None`` without any."""
        if self.label is None and not self.boxes:
            return None
        text = json.dumps([int(self.label) if self.label is not None else None,
                           [[int(v) for v in box] for box in self.boxes]])
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


DataSpec = Union[str, Path, Sequence[Union[StudyImage, str, Path]]]


def study_images(data: DataSpec, *, class_index: Callable[[str], int] | None = None,
                 allow_outside: bool = False) -> list[StudyImage]:
    """Resolve ``data`` into the study's photos.

    Parameters
    ----------
    data
        ``"samples"`` (every bundled sample photo, unannotated; but a folder ``samples`` in the working
        directory holding annotations, as ``attribkit samples --out samples`` writes, is read as that
        folder) or ``"samples:chelsea,coffee"``; an annotation file
        or folder (ILSVRC XML files, or a JSON file / a folder with ``boxes.json``) read by
        :func:`attribkit.data.read_annotations`; a folder of photos (no labels: the model's top-1 is
        explained); or a sequence of :class:`StudyImage` or photo paths.
    class_index
        Maps an annotation's label (a WordNet id, a class name or an index) to a class index.
    allow_outside
        Accept annotated photo paths that lead outside the annotations' folder (refused by default with
        an :class:`~attribkit.errors.AnnotationError`).
    """
    if isinstance(data, (str, Path)):
        text = str(data)
        path = Path(data)
        # `attribkit samples --out samples` writes the same photos with their boxes into ./samples: read
        # as the bundled photos, the word would silently drop the boxes the user just wrote.
        written_samples = text == "samples" and path.is_dir() and _is_annotated(path)
        if (text == "samples" or text.startswith("samples:")) and not written_samples:
            return _samples(text.partition(":")[2])
        if path.is_dir() and not _is_annotated(path):
            photos = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not photos:
                raise InputError(f"{path}: no photos ({', '.join(IMAGE_SUFFIXES)}) and no annotations")
            return _unique([StudyImage(p.stem, p) for p in photos])
        if path.exists():
            return _annotated(path, class_index, allow_outside)
        raise InputError(f"--data {text!r}: no such file or folder (or use 'samples')")
    items = [d if isinstance(d, StudyImage) else StudyImage(Path(d).stem, Path(d)) for d in data]
    if not items:
        raise InputError("a study needs at least one photo")
    return _unique(items)


def _unique(items: list[StudyImage]) -> list[StudyImage]:
    seen: dict[str, int] = {}
    for item in items:
        seen[item.name] = seen.get(item.name, 0) + 1
    clashes = sorted(n for n, c in seen.items() if c > 1)
    if clashes:
        raise InputError(f"photo names must be unique in a study (they key the results): {', '.join(clashes)}")
    return items


def _samples(names: str) -> list[StudyImage]:
    from attribkit.data import SAMPLE_PHOTOS
    from attribkit.data._samples import check_sample_names

    chosen = [n.strip() for n in names.split(",") if n.strip()] or list(SAMPLE_PHOTOS)
    check_sample_names(chosen)  # UnknownNameError (an OptionError: exit status 2), close names suggested
    return [StudyImage(n, SAMPLE_PHOTOS[n]) for n in chosen]


def _is_annotated(path: Path) -> bool:
    return (path / "boxes.json").is_file() or any(path.glob("*.xml"))


def _annotated(path: Path, class_index: Callable[[str], int] | None, allow_outside: bool) -> list[StudyImage]:
    from attribkit.data import read_annotations

    return annotated_images(read_annotations(path, allow_outside=allow_outside), class_index)


def annotated_images(entries: Sequence[AnnotatedImage], class_index: Callable[[str], int] | None) -> list[StudyImage]:
    """Annotated photos → study photos: the first label is explained, its boxes are the ground truth."""
    if class_index is None:
        raise OptionError("annotated data needs class_index to map labels to classes")
    items = []
    for entry in entries:
        label = entry.labels[0]
        try:
            index = class_index(label)
        except AttribkitError as exc:  # an unknown or out-of-range class: say which annotation names it
            raise AnnotationError(f"{entry.source or entry.path}: label {label!r}: {exc}") from exc
        items.append(StudyImage(entry.path.stem, entry.path, index, tuple(entry.boxes(label))))
    return _unique(items)


def class_of(model: torch.nn.Module, label: str) -> int:
    """An annotation's label (ImageNet wnid, class name or index) → the model's class index."""
    from attribkit.models._info import model_info

    return model_info(model).class_index(label)
