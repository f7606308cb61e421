"""The study's loop: photos in batches → one forward → each distinct map for the batch → localiser jobs.

The main process takes a batch of photos (decoded ahead by loader processes with ``loader_workers``:
:mod:`attribkit.study._loader`), runs one forward pass for their classes, computes each distinct
map (attributor + map options) for all photos and classes of the batch at once, and hands (photo, maps) to
the workers: the localisers' cuts, and the map records' metrics that need only the map and the boxes
(MaxBoxAcc V1/V2, pointing game, the explorer's thumbnail); it then goes on with the next map while they
work, and keeps only what needs the model (the maps, the deletion/insertion curves, ROAD, the sanity
check). Results are appended to the records in the order they were asked for, as soon as they and every
earlier one are finished, so the records come in the same order with any number of workers and an
interrupted study loses at most the results waiting behind an unfinished one. What is already recorded is not computed; a
gallery picture that is missing or torn is made again (without a second record). Photos chosen for the
checks (:mod:`attribkit.study._checks`) get their ROAD record beside each map, and their sanity-check
records per map label and batch, after the maps.

A photo that cannot be read, or whose ground-truth box lies outside it, is skipped with a warning and
reported (:func:`compute` fills ``skipped``); the others go on. A box that overlaps the photo but extends
beyond it is clipped to it, with a warning.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attribkit._core.guards import model_device
from attribkit._core.interfaces import Box
from attribkit._core.outputs import class_scores
from attribkit.data._image import LoadedImage
from attribkit.errors import AttribkitWarning
from attribkit.localisation._maps import crop_maps
from attribkit.study._batches import pad_batch, pad_rows
from attribkit.study._checks import road_record, sanity_records, seed_of
from attribkit.study._data import StudyImage
from attribkit.models._info import model_info
from attribkit.study._gallery import complete, gallery_path, save_localisation, save_map, save_photo
from attribkit.study._loader import Decoded, photo_stream
from attribkit.study._precision import autocast
from attribkit.study._records import RECORDS_DIR, TIMINGS_DIR, Key, Record, RecordWriter
from attribkit.study._thumbnails import photo_thumbnail_path, save_photo_thumbnail
from attribkit.study._run import StudyRun
from attribkit.study._sizing import AUTO, BatchSize, in_slices
from attribkit.study._workers import LocaliserSpec, localise_job, make_executor, map_job


@dataclass(frozen=True)
class MapPlan:
    """One distinct map of the study: its label and the attributor (averaging wrappers included)."""

    label: str
    attributor: Any
    factory: Any = None
    """``factory(model)`` builds the same attributor for another model (the sanity check's randomised ones)."""


@dataclass(frozen=True)
class BoxPlan:
    """One localiser run on one map's classes."""

    map_label: str
    label: str
    spec: LocaliserSpec


@dataclass(frozen=True)
class Plan:
    """What a study computes per photo, and in which shapes (see :mod:`attribkit.study._batches`)."""

    maps: dict[str, MapPlan]
    boxes: list[BoxPlan]
    top_k: int
    """For photos with ground truth: also the model's top-k classes (the ILSVRC protocol); 0: only the truth."""
    batch: int
    """Photos per forward pass; every batch is padded to it."""
    road: frozenset[str] = frozenset()
    """Photos that get ROAD records (:mod:`attribkit.study._checks`)."""
    sanity: frozenset[str] = frozenset()
    """Photos that get model-randomisation records."""
    sanity_layers: tuple[str, ...] = ()
    """The blocks randomised, top first."""
    gallery: frozenset[str] = frozenset()
    """Photos that get gallery pictures."""


@dataclass
class _Photo:
    item: StudyImage
    loaded: LoadedImage
    target: int
    predicted: int
    probability: float
    top: list[int]
    """The model's top-k classes (photos with ground truth), the guesses of the top-k error."""
    labels: list[int]
    """The classes mapped: ``top`` then the target if it is not among them (or the target alone)."""
    in_gallery: bool
    boxes: tuple[Box, ...]
    """The ground truth, clipped to the photo."""

    @property
    def charge(self) -> float:
        # evaluate has always charged a photo for its top-k classes only, not the extra true class.
        return len(self.top) / len(self.labels) if self.top else 1.0


@dataclass
class _Job:
    photo: _Photo
    box: BoxPlan
    record: bool
    """Whether the record is missing (else only the gallery picture is)."""


@dataclass
class _MapJob:
    """A map record waiting for its worker part (:func:`~attribkit.study._workers.map_job`)."""

    head: Record
    """The record's fields before the thumbnail."""
    tail: Record
    """Its fields after the thumbnail and before the box metrics (the curves among them)."""
    timing: Record


@dataclass
class _Ready:
    """Records computed in this process, queued behind the results asked for before them."""

    records: list[Record]


def _best_iou(box: Sequence[int] | None, truths: Sequence[Sequence[int]]) -> float | None:
    if not truths:
        return None
    if box is None:
        return 0.0
    from attribkit.metrics import iou

    return float(np.max(iou(np.asarray(truths, dtype=np.float64), box)))


def _curves(run: StudyRun, x: torch.Tensor, sal: torch.Tensor, target: int) -> Record:
    """Faithfulness of one map: deletion/insertion on the model's input (the model's part of a map record;
    the rest is :func:`~attribkit.study._workers.map_job`'s, in the workers)."""
    from attribkit.metrics import deletion_curve, insertion_curve

    metrics: Record = {}
    steps, batch_size = run.steps, run.batch_size
    if steps:
        curves = {
            "deletion": deletion_curve(run.model, x, sal[None], target, steps=steps, batch_size=batch_size),
            "insertion": insertion_curve(run.model, x, sal[None], target, steps=steps, batch_size=batch_size),
        }
        metrics["fractions"] = curves["deletion"].fractions.tolist()
        for name, curve in curves.items():
            metrics[f"{name}_auc"] = float(curve.auc()[0])
            metrics[f"{name}_curve"] = curve.scores[0].tolist()
    return metrics


def class_count(item: StudyImage, top_k: int) -> int:
    """Classes mapped for a photo: the top-k and the truth for photos with ground truth, else one."""
    return top_k + 1 if item.boxes and item.label is not None and top_k else 1


@dataclass
class _Loop:
    """One process's pass over its photos: the run, its plan, and what the pass has written and has pending."""

    run: StudyRun
    plan: Plan
    writer: RecordWriter
    timings: RecordWriter
    done: set[Key]
    """Keys of the records on file when the pass started."""
    missing: dict[str, set[Key]]
    """Per photo, the keys to work on (:func:`_missing`)."""
    executor: Executor
    bar: Any
    annotations: dict[str, str | None]
    """Photo → the digest of its annotations, stored in each of its records (:mod:`attribkit.study._records`)."""
    skipped: dict[str, str] = field(default_factory=dict)
    pending: dict[Future[Any], _Job | _MapJob | _Ready] = field(default_factory=dict)
    """Results asked for, in the order asked (dicts keep it): written in that order."""
    size: BatchSize = field(default_factory=lambda: BatchSize(1))
    """Photos per batch now: the plan's, or smaller after running out of device memory
    (:mod:`attribkit.study._sizing`)."""

    def write(self, record: Record, *, timing: bool = False) -> None:
        """Append a record (or, with ``timing``, a time) with its photo's annotation digest, if it has one."""
        digest = self.annotations.get(record["image"])
        if digest is not None:
            record = {**record, "annotation": digest}
        (self.timings if timing else self.writer).append(record)

    def queue(self, records: list[Record]) -> None:
        """Write ``records`` once every result asked for before them is written."""
        future: Future[Any] = Future()
        future.set_result(None)
        self.pending[future] = _Ready(records)

    def finish(self, keep: int) -> None:
        """Write finished results in the order they were asked for, stopping at the first unfinished one
        once at most ``keep`` are pending (waiting for it while more are: maps must not run far ahead of
        the workers, for memory). The order does not depend on the number of workers or their timing."""
        while self.pending:
            future = next(iter(self.pending))
            if not future.done() and len(self.pending) <= keep:
                return
            result = future.result()  # waits for the oldest result when too many are pending
            job = self.pending.pop(future)
            if isinstance(job, _Ready):
                for record in job.records:
                    self.write(record)
                    self.bar.update()
            elif isinstance(job, _MapJob):
                self.write(job.timing, timing=True)
                # The fields in the order a record always had them (the JSON lines do not change).
                self.write({**job.head, "thumbnail": result.pop("thumbnail"), **job.tail, **result})
                self.bar.update()
            else:
                _box_record(self, job, result)
                if job.record:
                    self.bar.update()


def compute(run: StudyRun, plan: Plan, items: Sequence[StudyImage], done: set[Key], *, rank: int = 0) -> dict[str, str]:
    """Compute every missing record of ``items`` (this process's shard), appending each to
    ``records/part-<rank>.jsonl`` as it is done, and every missing or torn gallery picture.

    Returns the photos that could not be used (name → why); the others are computed.
    """
    from tqdm.auto import tqdm

    out = run.out
    missing = {item.name: _missing(item, plan, done, out) for item in items}
    todo = [item for item in items if missing[item.name]]
    with RecordWriter(out / RECORDS_DIR / f"part-{rank}.jsonl") as writer, \
            RecordWriter(out / TIMINGS_DIR / f"part-{rank}.jsonl") as timings:
        bar = tqdm(total=sum(len(record_keys(item.name, plan)) for item in items), desc="study", unit="result",
                   disable=None if run.progress else True, leave=False, file=sys.stderr)
        bar.update(sum(len(record_keys(item.name, plan) & done) for item in items))
        # Every map record has a worker part (its thumbnail, and its box metrics given ground truth).
        executor = make_executor(run.workers)
        loop = _Loop(run, plan, writer, timings, done, missing, executor, bar,
                     {item.name: item.annotation for item in items}, size=BatchSize(plan.batch, run.map_batch == AUTO))
        try:
            _pass(loop, todo)
        finally:
            bar.close()
            executor.shutdown(wait=not loop.pending, cancel_futures=True)
    return loop.skipped


def _pass(loop: _Loop, todo: Sequence[StudyImage]) -> None:
    plan, device = loop.plan, model_device(loop.run.model)
    # Photos with and without ground truth map different numbers of classes: batched apart, so no
    # photo is padded to classes it does not need.
    groups = [[i for i in todo if class_count(i, plan.top_k) > 1], [i for i in todo if class_count(i, plan.top_k) == 1]]
    # One stream over both groups, in the order the batches take them (decoded ahead by the loader's workers).
    stream = photo_stream([i for g in groups for i in g], model_info(loop.run.model).preprocessing,
                          workers=loop.run.loader_workers, pin=device.type == "cuda")
    try:
        for group in groups:
            start = 0
            while start < len(group):
                chunk = group[start : start + loop.size.size]  # the size now: halved after running out of memory
                start += len(chunk)
                photos = _forward(loop, [next(stream) for _ in chunk])
                for map_plan in plan.maps.values():
                    chosen = [p for p in photos if any(k[2] == map_plan.label and k[0] != "sanity"
                                                       for k in loop.missing[p.item.name])]
                    if chosen:
                        _maps(loop, chosen, map_plan)
                    _sanity(loop, photos, map_plan)
                    # Bound the queue: maps must not run far ahead of the workers (memory).
                    loop.finish(keep=(4 * max(loop.run.workers, 1) + loop.size.size) * (1 + len(plan.boxes)))
    finally:
        stream.close()
    loop.finish(keep=0)


def record_keys(name: str, plan: Plan) -> set[Key]:
    """The keys of every record a photo gets in this plan."""
    keys = {("map", name, label, "") for label in plan.maps}
    keys |= {(kind, name, label, "") for kind, chosen in (("road", plan.road), ("sanity", plan.sanity))
             if name in chosen for label in plan.maps}
    return keys | {("box", name, b.map_label, b.label) for b in plan.boxes}


#: The pseudo key of a gallery photo's own picture (not a record: it only makes the photo be loaded).
def _photo_key(name: str) -> Key:
    return ("photo", name, "", "")


def _missing(item: StudyImage, plan: Plan, done: set[Key], out: Path) -> set[Key]:
    """Keys to work on: records not done and, for a gallery photo, records whose picture is not complete."""
    keys = record_keys(item.name, plan)
    todo = keys - done
    if item.name in plan.gallery:
        todo |= {k for k in keys if k[0] in ("map", "box")
                 and not complete(gallery_path(out, item.name, *[p for p in k[2:] if p]))}
        if not complete(gallery_path(out, item.name, "photo")):
            todo.add(_photo_key(item.name))
    return todo


def _forward(loop: _Loop, batch: Sequence[tuple[StudyImage, Decoded]]) -> list[_Photo]:
    """A batch of decoded photos (skipping those that cannot be used), one forward pass (padded to the
    batch size), each photo's classes."""
    model, plan, out = loop.run.model, loop.plan, loop.run.out
    usable, loaded = [], []
    for item, decoded in batch:
        if decoded.image is None:
            loop.skipped[item.name] = decoded.error
            warnings.warn(f"photo {item.name!r} skipped: {decoded.error}", AttribkitWarning, stacklevel=2)
            continue
        usable.append(item)
        loaded.append((decoded.image, decoded.boxes))
    if not usable:
        return []
    device = model_device(model)
    # Pinned inputs (CUDA) copy while the device works; each photo alone, so the cat runs there.
    x = torch.cat([image.tensor.to(device, non_blocking=True) for image, _ in loaded])

    def scores(rows: slice, padded: int) -> torch.Tensor:
        with torch.no_grad():
            return class_scores(model, pad_batch(x[rows], padded)).softmax(dim=1)[: rows.stop - rows.start]

    probs = torch.cat(in_slices(scores, len(usable), loop.size, device))
    photos = []
    for item, (image, boxes), p in zip(usable, loaded, probs):
        predicted = int(p.argmax())
        target = predicted if item.label is None else item.label
        top = p.topk(plan.top_k).indices.tolist() if class_count(item, plan.top_k) > 1 else []
        labels = top + ([target] if target not in top else [])
        in_gallery = item.name in plan.gallery
        if in_gallery and not complete(gallery_path(out, item.name, "photo")):
            save_photo(gallery_path(out, item.name, "photo"), image.rgb, boxes)
        if not photo_thumbnail_path(out, item.name).is_file():  # the explorer's picture of every photo
            save_photo_thumbnail(photo_thumbnail_path(out, item.name), image.rgb)
        photos.append(_Photo(item, image, target, predicted, float(p[target]), top, labels, in_gallery, boxes))
    return photos


def _maps(loop: _Loop, photos: Sequence[_Photo], map_plan: MapPlan) -> None:
    """One map for several photos and all their classes at once; then its records and localiser jobs."""
    run, plan, missing, done = loop.run, loop.plan, loop.missing, loop.done
    device = model_device(run.model)
    width = class_count(photos[0].item, plan.top_k)  # the same for every photo of a batch
    x = torch.cat([p.loaded.tensor.to(device, non_blocking=True) for p in photos])
    targets = torch.tensor(pad_rows([p.labels for p in photos], width), device=device)

    def maps_of(rows: slice, padded: int) -> torch.Tensor:
        # Seeded by (photos, map): a method drawing from torch's global generator gets the same numbers
        # when the same batch is computed again (see attribkit.study._batches for what batching changes).
        # The caller's random state is left as it was (fork_rng).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed_of(*[p.item.name for p in photos[rows]], map_plan.label))
            with autocast(device, run.precision):
                computed = crop_maps(map_plan.attributor, pad_batch(x[rows], padded), pad_batch(targets[rows], padded))
        return computed[: rows.stop - rows.start]

    start = time.perf_counter()
    maps = torch.cat(in_slices(maps_of, len(photos), loop.size, device))
    maps_np = maps.cpu().numpy()
    ms = (time.perf_counter() - start) * 1000 / len(photos)
    for i, photo in enumerate(photos):
        name, label = photo.item.name, map_plan.label
        classes = maps_np[i, : len(photo.labels)]
        k = photo.labels.index(photo.target)
        key: Key = ("map", name, label, "")
        if key in missing[name]:
            # The picture before the record: a record on file means its picture was finished.
            if photo.in_gallery:
                save_map(gallery_path(run.out, name, label), photo.loaded.input_rgb, classes[k])
            if key not in done:
                # Box metrics work on the photo, as in the paper: the worker part carries the crop's map onto
                # the photo's pixels (NaN where the model's crop did not reach). What the explorer shows and
                # filters by: the map itself (the thumbnail, small), whether the photo has a label to be
                # right or wrong about, and its ground truth on the photo.
                head: Record = {"kind": "map", "image": name, "method": label, "localiser": "",
                                "target": photo.target, "predicted": photo.predicted, "probability": photo.probability}
                tail: Record = {"labelled": photo.item.label is not None,
                                **({"truth": [list(b) for b in photo.boxes]} if photo.boxes else {}),
                                **_curves(run, photo.loaded.tensor.to(device), maps[i, k], photo.target)}
                timing: Record = {"image": name, "method": label, "localiser": "", "kind": "map", "ms": ms * photo.charge}
                future = loop.executor.submit(map_job, classes[k], photo.loaded.geometry, photo.boxes)
                loop.pending[future] = _MapJob(head, tail, timing)
        if ("road", name, label, "") in missing[name]:
            loop.queue([road_record(run.model, photo.loaded.tensor.to(device), maps[i, k], photo.target, name, label)])
        for box in plan.boxes:
            box_key: Key = ("box", name, label, box.label)
            if box.map_label == label and box_key in missing[name]:
                seeds = [f"{name}|{label}|{box.label}" + ("" if c == photo.target else f"|{c}")
                         for c in photo.labels]
                future = loop.executor.submit(localise_job, box.spec, photo.loaded.rgb, classes,
                                              photo.loaded.geometry, seeds, k)
                loop.pending[future] = _Job(photo, box, box_key not in done)


def _sanity(loop: _Loop, photos: Sequence[_Photo], map_plan: MapPlan) -> None:
    """The model-randomisation records of the photos of a batch that miss theirs (padded like the maps)."""
    plan, model = loop.plan, loop.run.model
    chosen = [p for p in photos if ("sanity", p.item.name, map_plan.label, "") in loop.missing[p.item.name]]
    if not chosen:
        return
    device = model_device(model)
    x = torch.cat([p.loaded.tensor.to(device, non_blocking=True) for p in chosen])
    targets = torch.tensor([p.target for p in chosen], device=device)

    def records_of(rows: slice, padded: int) -> list[Record]:
        return sanity_records(model, pad_batch(x[rows], padded), pad_batch(targets[rows], padded),
                              [p.item.name for p in chosen[rows]], map_plan.label, map_plan.factory, plan.sanity_layers)

    # Written once every slice is done: a slice computed again after running out of memory is not written twice.
    loop.queue([record for records in in_slices(records_of, len(chosen), loop.size, device) for record in records])


def _box_record(loop: _Loop, job: _Job, result: dict[str, Any]) -> None:
    photo, plan = job.photo, job.box
    boxes = result["boxes"]
    k = photo.labels.index(photo.target)
    box = boxes[k]
    if photo.in_gallery:
        shape = tuple(result["shape"])
        mask = np.unpackbits(result["mask"])[: int(np.prod(shape))].reshape(shape)
        save_localisation(gallery_path(loop.run.out, photo.item.name, plan.map_label, plan.label),
                          photo.loaded.rgb, mask.astype(bool), box, photo.boxes)
    if not job.record:
        return
    record: Record = {
        "kind": "box", "image": photo.item.name, "method": plan.map_label, "localiser": plan.label,
        "box": box, "iou": _best_iou(box, photo.boxes),
        # Why the box is the localiser's fallback (flat map, no seeds, empty cut), or None: the tables count them.
        "fallback": result["fallbacks"][k],
    }
    if photo.top:
        # The ILSVRC protocol: the model's top-k (class, box) guesses and the annotated class's boxes.
        record["target"] = photo.target
        record["truth"] = [list(b) for b in photo.boxes]
        record["guesses"] = [[c, boxes[photo.labels.index(c)]] for c in photo.top]
    loop.write({"image": photo.item.name, "method": plan.map_label, "localiser": plan.label, "kind": "box",
                "ms": result["ms"] * photo.charge}, timing=True)
    loop.write(record)
