"""Photos read, decoded and preprocessed off the main process: a ``torch.utils.data.DataLoader`` whose
worker processes run what the main process ran before (:func:`decode`), in the order the study needs them.

Decoding a JPEG, resizing it and normalising the crop costs about as much CPU time per photo as a small
model's forward and backward on a GPU; done in the main process, it leaves the device idle in between.
With ``loader_workers=N`` the study hands the photos to N worker processes, which work ahead of the maps
(at most two photos per worker queued) and return each photo decoded, or why it could not be used.

The records are the same as decoding in the main process: a worker runs the very same function, photos
come back in the order asked for (the DataLoader's sampler order, whatever worker finishes first), and the
warnings a worker meets (a box clipped to the photo) are raised again in the main process, where the
caller's filters apply. A photo that fails to decode is reported and skipped by the caller, as before.

Workers start with the ``spawn`` method, like the localiser pool (:mod:`attribkit.study._workers`): safe
with CUDA and threads in the parent. So the photos' sources must pickle (paths always do; a function given
as a :class:`~attribkit.study.StudyImage` source must be importable), and a study called from a script's
top level outside ``if __name__ == "__main__":`` cannot start them (:mod:`attribkit.study._spawn`); in
both cases the photos are decoded in the main process, with an :class:`~attribkit.errors.AttribkitWarning`.
On CUDA the batches' tensors come back in pinned (page-locked) memory, so their copy to the device can
overlap the work already queued there.
"""

from __future__ import annotations

import multiprocessing
import pickle
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from attribkit._core.interfaces import Box
from attribkit.data._annotations import fit_box
from attribkit.data._image import LoadedImage, load_image
from attribkit.errors import AnnotationError, AttribkitWarning, ImageError, OptionError
from attribkit.models._info import Preprocessing
from attribkit.study._data import StudyImage
from attribkit.study._spawn import stays_in_process

#: Photos each worker decodes ahead of the one the study is waiting for (DataLoader's ``prefetch_factor``).
PREFETCH = 2


@dataclass
class Decoded:
    """One photo as the study uses it, or why it cannot be used.

    Attributes
    ----------
    image
        The photo preprocessed for the model (``None`` when it cannot be used).
    boxes
        Its ground-truth boxes in the kept copy's pixels, clipped to the photo.
    error
        Why it cannot be used (``""``: it can): an unreadable file, a box outside the photo.
    warned
        The warnings met while decoding it, as ``(category, message)``, to be raised where the caller's
        filters apply (:func:`photo_stream` raises them).
    """

    image: LoadedImage | None
    boxes: tuple[Box, ...] = ()
    error: str = ""
    warned: list[tuple[type[Warning], str]] = field(default_factory=list)

    def pin_memory(self) -> Decoded:
        """The DataLoader's pinning thread calls this (on CUDA): the model input in page-locked memory."""
        if self.image is not None:
            image = self.image
            self.image = LoadedImage(image.tensor.pin_memory(), image.rgb, image.geometry, image.source,
                                     image.crop_rgb)
        return self


def decode(item: StudyImage, preprocessing: Preprocessing) -> Decoded:
    """Read ``item``'s photo, preprocess it and fit its boxes to it; never raises for a photo that cannot
    be used (an ``ImageError``, ``AnnotationError`` or ``OSError`` becomes :attr:`Decoded.error`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = load_image(item.read(), preprocessing)
            height, width = image.rgb.shape[:2]
            # Boxes, masks and maps of a study live on the kept copy of the photo (smaller above MAX_PHOTO_PIXELS).
            boxes = tuple(fit_box(image.geometry.from_source(b), width, height, f"photo {item.name!r}: box {i}")
                          for i, b in enumerate(item.boxes))
            decoded = Decoded(image, boxes)
        except (ImageError, AnnotationError, OSError) as exc:
            decoded = Decoded(None, error=str(exc))
    decoded.warned = [(w.category, str(w.message)) for w in caught]
    return decoded


class PhotoSet(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The study's photos as a map-style dataset: ``photos[i]`` is :func:`decode` of the i-th."""

    def __init__(self, items: Sequence[StudyImage], preprocessing: Preprocessing) -> None:
        self.items = list(items)
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Decoded:
        return decode(self.items[index], self.preprocessing)


def _as_is(decoded: Decoded) -> Decoded:
    """The DataLoader's ``collate_fn``: one photo at a time, as decoded (its default would turn arrays
    into tensors). A module-level function, so spawned workers can unpickle it."""
    return decoded


def usable_workers(requested: int, items: Sequence[StudyImage]) -> int:
    """``requested``, or 0 (decode in this process, with a warning saying why) when worker processes
    cannot be spawned from here or the photos' sources do not pickle; ``OptionError`` below 0."""
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 0:
        raise OptionError(f"loader_workers must be >= 0; got {requested!r}")
    if requested == 0 or not items:
        return 0
    if stays_in_process(f"{requested} loader processes", "decoding photos", "them", stacklevel=3):
        return 0
    for item in items:
        if isinstance(item.source, (str, bytes)) or hasattr(item.source, "__fspath__"):
            continue
        try:
            pickle.dumps(item.source)
        except Exception as exc:  # noqa: BLE001 - any failure to pickle means the same: no workers
            warnings.warn(f"photo {item.name!r}: its source {item.source!r} cannot be sent to loader processes "
                          f"({type(exc).__name__}: {exc}); decoding photos in this process instead (give paths, "
                          "or module-level functions)", AttribkitWarning, stacklevel=3)
            return 0
    return requested


def photo_stream(items: Sequence[StudyImage], preprocessing: Preprocessing, *, workers: int = 0,
                 pin: bool = False) -> Iterator[tuple[StudyImage, Decoded]]:
    """Every item with its :class:`Decoded` photo, in the order of ``items``.

    ``workers`` processes decode ahead (0: each photo is decoded in this process when it is asked for);
    ``pin`` puts the model inputs in pinned memory (for CUDA). The warnings met while decoding are
    raised here, as :class:`Decoded` holds them, as they are yielded.
    """
    workers = usable_workers(workers, items)
    if workers == 0:
        decoded: Iterator[Decoded] = (decode(item, preprocessing) for item in items)
    else:
        loader = torch.utils.data.DataLoader(
            PhotoSet(items, preprocessing), batch_size=None, shuffle=False, num_workers=workers,
            collate_fn=_as_is, pin_memory=pin, prefetch_factor=PREFETCH,
            multiprocessing_context=multiprocessing.get_context("spawn"))
        decoded = iter(loader)
    try:
        for item, photo in zip(items, decoded):
            for category, message in photo.warned:
                warnings.warn(message, category, stacklevel=2)
            yield item, photo
    finally:
        # Stop the workers now, also when the study stops early (an error, Ctrl-C), rather than whenever the
        # DataLoader's iterator is collected.
        shutdown = getattr(decoded, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
