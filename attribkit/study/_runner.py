"""``run_study``: every method × localiser over a dataset, resumable, overlapped and shardable.

The main process loads each photo, computes each method's map and its deletion/insertion curves (on
the model's device, batched), and hands (photo, map) to localiser worker processes; it then goes on with
the next map while they cut. Every finished result is appended to ``records/part-<rank>.jsonl`` at once
(see :mod:`attribkit.study._records`), so a study stopped by Ctrl-C or ``kill -9`` resumes where it
stopped. The table is computed from the records alone, so it is the same after any interruption and for
any number of ``torchrun`` processes.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attribkit.attribution._gradient import saliency_map
from attribkit.study._evaluate import class_of
from attribkit.data._image import LoadedImage, load_image
from attribkit.localisation._maps import photo_saliency
from attribkit._core.registry import get_registry
from attribkit.attribution import create_attributor
from attribkit.models._info import model_info
from attribkit.study._data import DataSpec, StudyImage, study_images
from attribkit.study._distributed import current_shard
from attribkit.study._gallery import gallery_path, save_localisation, save_map, save_photo
from attribkit.study._records import RECORDS_DIR, Key, Record, RecordWriter, read_records, record_key
from attribkit.study._report import write_report
from attribkit.study._summary import Row, summarise
from attribkit.study._workers import localise_job, localiser_spec, make_executor


@dataclass(frozen=True)
class StudyResult:
    """What a finished study wrote (on rank 0 of a sharded run)."""

    out: Path
    rows: list[Row]
    records: list[Record]
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Pending:
    image: StudyImage
    method: str
    localiser: str
    loaded: LoadedImage
    in_gallery: bool


def _seed(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


def _best_iou(box: Sequence[int] | None, truths: Sequence[Sequence[int]]) -> float | None:
    if not truths:
        return None
    if box is None:
        return 0.0
    from attribkit.metrics import iou

    return float(np.max(iou(np.asarray(truths, dtype=np.float64), box)))


def _map_metrics(
    model: torch.nn.Module,
    x: torch.Tensor,
    sal: torch.Tensor,
    photo_map: np.ndarray,
    target: int,
    boxes: Sequence[Sequence[int]],
    steps: int,
    batch_size: int,
) -> Record:
    """Faithfulness of one map (deletion/insertion on the model's input) and, given ground truth, the
    map-only localisation metrics (on the photo)."""
    from attribkit.metrics import deletion_curve, insertion_curve, max_box_acc, pointing_game

    metrics: Record = {}
    if steps:
        curves = {
            "deletion": deletion_curve(model, x, sal[None], target, steps=steps, batch_size=batch_size),
            "insertion": insertion_curve(model, x, sal[None], target, steps=steps, batch_size=batch_size),
        }
        metrics["fractions"] = curves["deletion"].fractions.tolist()
        for name, curve in curves.items():
            metrics[f"{name}_auc"] = float(curve.auc()[0])
            metrics[f"{name}_curve"] = curve.scores[0].tolist()
    if boxes:
        metrics["pointing"] = pointing_game([photo_map], [boxes])
        metrics["box_acc"] = max_box_acc([photo_map], [boxes]).accuracies.tolist()
    return metrics


def run_study(
    model: torch.nn.Module,
    data: DataSpec,
    *,
    methods: Sequence[str],
    localisers: Sequence[str] = (),
    out: str | Path,
    workers: int = 2,
    steps: int = 16,
    batch_size: int = 64,
    gallery: int = 8,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    localiser_options: Mapping[str, Mapping[str, Any]] | None = None,
    distributed: bool | None = None,
    progress: bool = True,
) -> StudyResult | None:
    """Run every method × localiser over ``data`` and write the table, plots and HTML report to ``out``.

    Parameters
    ----------
    model
        The classifier (on the device the maps should be computed on).
    data
        Photos: see :func:`attribkit.study.study_images` (``"samples"``, a folder, an annotation file).
    methods, localisers
        Registered attributor and localiser names (``attribkit plugins`` lists them).
    out
        Output folder. If it holds records of an earlier run of the same study, finished results are
        kept and only the missing ones are computed.
    workers
        Localiser processes running beside the maps (``0``: localise in this process, serially).
    steps
        Steps of the deletion and insertion curves (``0``: no faithfulness metrics).
    batch_size
        Perturbed images per forward pass of the curves.
    gallery
        How many photos (the first ones) get pictures in the HTML gallery.
    method_options, localiser_options
        Per-name keyword options for ``create_attributor`` (the method's own and the averaging:
        ``{"saliency": {"smoothgrad": 10}}``) / ``create_localiser``.
    distributed
        ``None``: shard across ``torchrun`` processes when launched by it; ``False``: never.
    progress
        Show a progress bar.

    Returns
    -------
    StudyResult or None
        The table and files, or ``None`` on ranks other than 0 of a sharded run (rank 0 merges).

    Example
    -------
    >>> run_study(model, "samples", methods=["saliency", "random"], localisers=["threshold"],
    ...           out="study")                                           # doctest: +SKIP
    """
    if not methods:
        raise ValueError("a study needs at least one method")
    if steps < 0 or gallery < 0:
        raise ValueError(f"steps and gallery must be >= 0; got {steps}, {gallery}")
    out = Path(out)
    info = model_info(model)
    items = study_images(data, class_index=lambda label: class_of(model, label))
    methods, localisers = list(dict.fromkeys(methods)), list(dict.fromkeys(localisers))
    method_options = {m: dict((method_options or {}).get(m, {})) for m in methods}
    registry = get_registry()
    attributors = {m: create_attributor(m, model, **method_options[m]) for m in methods}
    specs = {}
    for loc in localisers:
        options = dict((localiser_options or {}).get(loc, {}))
        factory = registry.get("localiser", loc).factory
        factory(**options)  # fail here, on bad options, rather than in a worker
        specs[loc] = localiser_spec(loc, factory, options)

    shard = current_shard(distributed)
    try:
        out.mkdir(parents=True, exist_ok=True)
        mine = items[shard.rank :: shard.world]
        gallery_names = {i.name for i in items[:gallery]}
        done = {record_key(r) for r in read_records(out)}
        with RecordWriter(out / RECORDS_DIR / f"part-{shard.rank}.jsonl") as writer:
            _compute(model, mine, attributors, specs, out, writer, done, gallery_names,
                     workers=workers, steps=steps, batch_size=batch_size, progress=progress)
        shard.barrier()
        if shard.rank != 0:
            return None
        records = read_records(out)
        rows = summarise(records, methods=methods, localisers=localisers)
        settings = {"model": info.name, "photos": len(items), "methods": ",".join(methods),
                    "localisers": ",".join(localisers) or "-", "curve steps": steps}
        files = write_report(out, rows, records, images=[i.name for i in items[:gallery]], methods=methods,
                             localisers=localisers, settings=settings)
        return StudyResult(out, rows, records, files)
    finally:
        shard.close()


def _compute(
    model: torch.nn.Module,
    items: Sequence[StudyImage],
    attributors: dict[str, Any],
    specs: dict[str, Any],
    out: Path,
    writer: RecordWriter,
    done: set[Key],
    gallery_names: set[str],
    *,
    workers: int,
    steps: int,
    batch_size: int,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    executor = make_executor(workers if specs else 0)
    pending: dict[Future[Any], _Pending] = {}
    bar = tqdm(total=len(items) * len(attributors) * (1 + len(specs)), desc="study", unit="result",
               disable=None if progress else True, leave=False, file=sys.stderr)

    def finish(futures: set[Future[Any]]) -> None:
        for future in futures:
            job = pending.pop(future)
            result = future.result()
            box = result["box"]
            if job.in_gallery:
                mask = np.unpackbits(result["mask"])[: int(np.prod(result["shape"]))].reshape(result["shape"])
                save_localisation(gallery_path(out, job.image.name, job.method, job.localiser),
                                  job.loaded.rgb, mask.astype(bool), box, job.image.boxes)
            writer.append({
                "kind": "box", "image": job.image.name, "method": job.method, "localiser": job.localiser,
                "box": box, "iou": _best_iou(box, job.image.boxes),
            })
            bar.update()

    try:
        for item in items:
            wanted = {
                m: [loc for loc in specs if ("box", item.name, m, loc) not in done]
                for m in attributors
            }
            map_wanted = {m: ("map", item.name, m, "") not in done for m in attributors}
            bar.update(sum((not map_wanted[m]) + len(specs) - len(wanted[m]) for m in attributors))
            if not any(map_wanted.values()) and not any(wanted.values()):
                continue
            loaded = load_image(item.read(), model)
            x = loaded.tensor.to(device)
            with torch.no_grad():
                probs = model(x).softmax(dim=1)[0]
            predicted = int(probs.argmax())
            target = predicted if item.label is None else item.label
            in_gallery = item.name in gallery_names
            if in_gallery and not gallery_path(out, item.name, "photo").is_file():
                save_photo(gallery_path(out, item.name, "photo"), loaded.rgb, item.boxes)
            for method, attributor in attributors.items():
                if not map_wanted[method] and not wanted[method]:
                    continue
                # Seeded by (photo, method): stochastic methods (SmoothGrad, random) give the same map
                # when a resumed or sharded run recomputes it.
                # The caller's random state is left as it was (fork_rng).
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(_seed(item.name, method))
                    sal = saliency_map(attributor.attribute(x, target=target).detach())[0].float()
                sal_np = sal.cpu().numpy()
                # Localisers and box metrics work on the photo, as in the paper: the crop's map is
                # carried onto the photo's pixels (NaN where the model's crop did not reach).
                photo_map = photo_saliency(sal_np, loaded.geometry)
                if map_wanted[method]:
                    record: Record = {
                        "kind": "map", "image": item.name, "method": method, "localiser": "",
                        "target": target, "predicted": predicted, "probability": float(probs[target]),
                        **_map_metrics(model, x, sal, photo_map, target, item.boxes, steps, batch_size),
                    }
                    if in_gallery:
                        save_map(gallery_path(out, item.name, method), loaded.input_rgb, sal_np)
                    writer.append(record)
                    bar.update()
                for loc in wanted[method]:
                    future = executor.submit(localise_job, specs[loc], loaded.rgb, photo_map,
                                             f"{item.name}|{method}|{loc}")
                    pending[future] = _Pending(item, method, loc, loaded, in_gallery)
                finish({f for f in pending if f.done()})
                # Bound the queue: maps must not run far ahead of the localisers (memory).
                while len(pending) > 4 * max(workers, 1):
                    finish(wait(pending, return_when=FIRST_COMPLETED).done)
        while pending:
            finish(wait(pending, return_when=FIRST_COMPLETED).done)
    finally:
        bar.close()
        executor.shutdown(wait=not pending, cancel_futures=True)
