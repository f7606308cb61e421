"""Localisers and the map-only metrics in worker processes, so the main process computes the next maps
while they cut and measure.

GraphCut is CPU-bound Python/C (colour mixtures, max-flow); saliency maps are PyTorch work on the GPU or
on CPU threads. Running localisers in a process pool overlaps the two. Workers start with the ``spawn``
method (safe with CUDA and threads in the parent) and build each localiser once.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from attribkit.data._image import Geometry
from attribkit.errors import OptionError
from attribkit.study._spawn import stays_in_process

#: A localiser is sent to workers as its factory when that pickles (a class: workers import it), or
#: by name (workers look it up in their own registry, built from the installed entry points).
LocaliserSpec = tuple[str, Any, dict[str, Any]]

_cache: dict[bytes, Any] = {}


def localiser_spec(name: str, factory: Callable[..., Any], options: dict[str, Any]) -> LocaliserSpec:
    try:
        pickle.dumps(factory)
    except Exception:
        return (name, None, options)
    return (name, factory, options)


def _build(spec: LocaliserSpec) -> Any:
    key = pickle.dumps((spec[0], spec[2]))
    if key not in _cache:
        name, factory, options = spec
        if factory is None:
            from attribkit._core.registry import create_localiser

            _cache[key] = create_localiser(name, **options)
        else:
            _cache[key] = factory(**options)
    return _cache[key]


def localise_job(
    spec: LocaliserSpec,
    image: np.ndarray,
    crop_maps: np.ndarray,
    geometry: Geometry,
    seeds: Sequence[str],
    keep_mask: int,
) -> dict[str, Any]:
    """Run one localiser on K class maps of one photo (the ILSVRC protocol's top-k plus the true class).

    Parameters
    ----------
    image
        The photo, ``[H, W, 3]`` uint8.
    crop_maps
        ``[K, h, w]`` float32 maps on the model's input crop; each is carried onto the photo's pixels
        (NaN where the crop did not reach) and localised there, as in the paper.
    geometry
        The photo's resize-and-crop geometry.
    seeds
        One text per class, seeding numpy's global generator for that class's cut.
    keep_mask
        The class whose mask comes back (packed; for the gallery).

    Returns
    -------
    dict
        ``boxes`` (one per class, ``None`` where nothing was found), ``fallbacks`` (one per class: the
        localiser's :attr:`~attribkit.Localisation.fallback`, ``None`` where it localised as designed), the
        kept ``mask`` (packed bits) and its ``shape``, and ``ms``: wall milliseconds of the K cuts, maps onto
        the photo included.
    """
    from attribkit.localisation._maps import photo_saliency

    start = time.perf_counter()
    localiser = _build(spec)
    boxes: list[list[int] | None] = []
    fallbacks: list[str | None] = []
    mask = np.zeros(image.shape[:2], dtype=bool)
    for k, (crop_map, seed_text) in enumerate(zip(crop_maps, seeds)):
        # A localiser drawing from numpy's global generator gets the same numbers for the same class
        # whichever worker runs it, so a resumed or sharded study reproduces an uninterrupted one.
        # (Restored afterwards: with workers=0 this runs in the caller's process.)
        state = np.random.get_state()
        np.random.seed(zlib.crc32(seed_text.encode()))
        try:
            found = localiser.localise(image, photo_saliency(crop_map, geometry))
        finally:
            np.random.set_state(state)
        boxes.append(None if found.box is None else [int(v) for v in found.box])
        fallbacks.append(None if found.fallback is None else str(found.fallback))
        if k == keep_mask:
            mask = np.asarray(found.mask, dtype=bool)
    return {"boxes": boxes, "fallbacks": fallbacks, "mask": np.packbits(mask), "shape": mask.shape,
            "ms": (time.perf_counter() - start) * 1000}


def map_job(crop_map: np.ndarray, geometry: Geometry, boxes: Sequence[Sequence[int]]) -> dict[str, Any]:
    """The part of one map record that needs only the map and the photo's boxes: run in the localiser
    workers, so the main process only runs the model (issue 23: on a GPU these metrics, ~50 ms of CPU per
    photo, bounded a 50,000-photo study at ~42 minutes in the main process).

    Parameters
    ----------
    crop_map
        ``[h, w]`` float32 map of the true class on the model's input crop; carried onto the photo's pixels
        (NaN where the crop did not reach) as in the paper.
    geometry
        The photo's resize-and-crop geometry.
    boxes
        The photo's ground-truth boxes ``(x0, y0, x1, y1)`` on its pixels (clipped to it); empty: none.

    Returns
    -------
    dict
        ``thumbnail`` (:func:`~attribkit.study._thumbnails.map_thumbnail`) and, given boxes, ``pointing``
        (Zhang et al. 2016/2018), ``box_acc`` (MaxBoxAcc, Choe et al. 2020, per map threshold) and
        ``box_acc_v2`` (MaxBoxAcc V2: per IoU threshold 30/50/70, right or not at each of the 100 map
        thresholds, 3 x 100 zeros and ones).
    """
    from attribkit.localisation._maps import photo_saliency
    from attribkit.metrics import max_box_acc, max_box_acc_v2, pointing_game
    from attribkit.study._thumbnails import map_thumbnail

    photo_map = photo_saliency(crop_map, geometry)
    metrics: dict[str, Any] = {"thumbnail": map_thumbnail(photo_map)}
    if boxes:
        metrics["pointing"] = pointing_game([photo_map], [boxes])
        metrics["box_acc"] = max_box_acc([photo_map], [boxes]).accuracies.tolist()
        metrics["box_acc_v2"] = max_box_acc_v2([photo_map], [boxes]).correct[0].T.astype(int).tolist()
    return metrics


def _init_worker(parent: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group; the parent decides what stops (it keeps finished records
    # and shuts the pool down), so workers ignore it rather than die mid-job with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Each worker is one of several processes sharing the cores: one thread each.
    torch.set_num_threads(1)
    # A parent killed with SIGKILL cannot shut the pool down, and a worker waiting on the job queue would
    # wait forever: leave when the parent is gone (its pid comes from the parent itself, since a slow
    # start can find the parent already dead).

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="attribkit-parent-watch").start()


class SerialExecutor(Executor):
    """Runs jobs at submission, in this process: ``workers=0`` (the serial baseline, and for debugging)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


def make_executor(workers: int) -> Executor:
    """A spawn-context process pool of ``workers`` processes, or in-process execution for 0.

    In-process too, with an :class:`~attribkit.errors.AttribkitWarning`, when the call comes from a script's
    top level outside ``if __name__ == "__main__":`` (:func:`~attribkit.study._spawn.unguarded_main`):
    spawned workers would run the script again and break the pool. The records are the same either way.
    """
    if workers < 0:
        raise OptionError(f"workers must be >= 0; got {workers}")
    if workers == 0:
        return SerialExecutor()
    if stays_in_process(f"{workers} worker processes", "localising", "workers", stacklevel=2):
        return SerialExecutor()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(),))
