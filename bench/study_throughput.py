"""Photos per second of a study, serial and with localiser workers, against the sum of its stage costs.

    python bench/study_throughput.py [--data ../shared/data/imagenet-dev/boxes.json] [--limit 40]
                                     [--methods saliency,random] [--localisers graphcut,threshold]
                                     [--workers 0,2] [--repeats 1] [--map-batch 8] [--device cpu]

The study is the ``attribkit evaluate`` protocol with plain maps: for each annotated photo the model's
top-5 classes and the true class (six maps per method, one forward and one batched backward for a batch
of photos), each localiser on every method's six maps, no faithfulness curves, no gallery.

In the same process and on the same photos it measures each stage alone (median of ``--repeats``
interleaved runs, ``bench/_timing.py``): reading and preprocessing a photo, the forward pass that picks
its classes, each method's maps in batches of ``--map-batch`` photos and one photo at a time, each
localiser's six cuts, the map metrics (pointing game, MaxBoxAcc curve) and writing the records (JSON line
+ fsync); and, once, how long worker processes take to start. The sum of the stages is what a
serial study should cost; the table reports how close the whole study comes to it, serially and with
worker processes, and checks that every run wrote the same records.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import torch

import attribkit
from attribkit.data._image import load_image
from attribkit.localisation._maps import photo_saliency
from attribkit.metrics import max_box_acc, pointing_game
from attribkit.study import named_settings, read_records, run_study, study_images  # noqa: F401
from attribkit.localisation._maps import crop_maps
from attribkit.study._batches import pad_batch, pad_rows
from attribkit.study._data import class_of
from attribkit.study._records import RecordWriter
from attribkit.study._runner import make_plan
from attribkit.study._settings import cross_settings
from attribkit.study._workers import localise_job, make_executor

from _timing import interleaved, pick_device, table

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev" / "boxes.json"


def stage_costs(model, items, methods, localisers, *, top_k, batch, repeats, device):  # type: ignore[no-untyped-def]
    """Seconds per photo of each stage, measured alone (median of ``repeats`` interleaved runs)."""
    plan = make_plan(model, cross_settings(methods, localisers), top_k=top_k, batch=min(batch, len(items)))
    b = plan.batch
    loaded = [load_image(item.read(), model) for item in items]
    x = torch.cat([image.tensor for image in loaded]).to(device)
    with torch.no_grad():
        probs = model(x).softmax(dim=1)
    rows = []
    for item, p in zip(items, probs):
        top = p.topk(top_k).indices.tolist()
        rows.append(top + ([item.label] if item.label not in top else []))
    targets = torch.tensor(pad_rows(rows, top_k + 1), device=device)
    chunks = [(x[i : i + b], targets[i : i + b]) for i in range(0, len(items), b)]
    maps = {}
    for label, mp in plan.maps.items():
        maps[label] = torch.cat([crop_maps(mp.attributor, pad_batch(xs, b), pad_batch(ts, b))[: len(xs)]
                                 for xs, ts in chunks]).cpu().numpy()
    root = Path(tempfile.mkdtemp(prefix="attribkit-stage-"))

    def load() -> None:
        for item in items:
            load_image(item.read(), model)

    def forward() -> None:
        with torch.no_grad():
            for xs, _ in chunks:
                model(pad_batch(xs, b))

    def batched(label: str):  # type: ignore[no-untyped-def]
        mp = plan.maps[label]
        return lambda: [crop_maps(mp.attributor, pad_batch(xs, b), pad_batch(ts, b)) for xs, ts in chunks]

    def single(label: str):  # type: ignore[no-untyped-def]
        mp = plan.maps[label]
        return lambda: [crop_maps(mp.attributor, x[i : i + 1], targets[i : i + 1]) for i in range(len(items))]

    def metrics(label: str):  # type: ignore[no-untyped-def]
        # What the main process does with each map record: the true class's map onto the photo, pointing
        # game and the MaxBoxAcc curve (100 thresholds, a connected-component box each).
        def run() -> None:
            for i, (item, image, labels) in enumerate(zip(items, loaded, rows)):
                on_photo = photo_saliency(maps[label][i, labels.index(item.label)], image.geometry)
                pointing_game([on_photo], [item.boxes])
                max_box_acc([on_photo], [item.boxes])
        return run

    def cuts(box):  # type: ignore[no-untyped-def]
        def run() -> None:
            for i, (image, labels) in enumerate(zip(loaded, rows)):
                crop = maps[box.map_label][i, : len(labels)]
                localise_job(box.spec, image.rgb, crop, image.geometry, [str(c) for c in labels], 0)
        return run

    def records() -> None:
        # What the study writes per photo: a map record per method, a box record per (method, localiser),
        # and a timing line beside each; each line is fsync'd.
        with RecordWriter(root / "r.jsonl") as w:
            for item in items:
                for _ in range(2 * (len(plan.maps) + len(plan.boxes))):
                    w.append({"kind": "box", "image": item.name, "box": [1, 2, 3, 4], "guesses": rows[0]})

    candidates = {"read + preprocess": load, "forward (classes)": forward}
    for label in plan.maps:
        candidates[f"maps {label}, batched"] = batched(label)
        candidates[f"maps {label}, one photo at a time"] = single(label)
        candidates[f"map metrics {label} (pointing, MaxBoxAcc)"] = metrics(label)
    for box in plan.boxes:
        candidates[f"cuts {box.label} on {box.map_label} ({top_k + 1} classes)"] = cuts(box)
    candidates["records (write + fsync)"] = records
    try:
        seconds = interleaved(candidates, repeats=repeats, device=device)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {name: s / len(items) for name, s in seconds.items()}


def worker_start(workers: int) -> float:
    """Seconds until ``workers`` spawned localiser processes have each answered (imports included)."""
    start = time.perf_counter()
    executor = make_executor(workers)
    try:
        for future in [executor.submit(os.getpid) for _ in range(4 * workers)]:
            future.result()
    finally:
        executor.shutdown()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEV))
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--methods", default="saliency,random")
    parser.add_argument("--localisers", default="graphcut,threshold")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--map-batch", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = pick_device(args.device)
    model = attribkit.load_model().to(device)
    items = study_images(args.data, class_index=lambda label: class_of(model, label))[: args.limit]
    methods, localisers = args.methods.split(","), args.localisers.split(",")
    counts = [int(w) for w in args.workers.split(",")]

    stages = stage_costs(model, items, methods, localisers, top_k=args.top_k, batch=args.map_batch,
                         repeats=args.repeats, device=device)
    root = Path(tempfile.mkdtemp(prefix="attribkit-bench-"))
    times: dict[int, list[float]] = {w: [] for w in counts}
    cpu: dict[int, tuple[float, float]] = {}
    records = {}
    startup = {w: worker_start(w) for w in counts if w}
    try:
        for repeat in range(args.repeats):
            for workers in counts:  # interleaved, so drift in the machine's load hits all alike
                out = root / f"w{workers}-{repeat}"
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                start, own = time.perf_counter(), time.process_time()
                run_study(model, items, methods=methods, localisers=localisers, out=out, workers=workers, steps=0,
                          gallery=0, progress=False, top_k=args.top_k, map_batch=args.map_batch)
                times[workers].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[workers] = (time.process_time() - own, max(0.0,
                                after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime))
                records[workers] = json.dumps(read_records(out), sort_keys=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = len(items)
    unbatched = {k: v for k, v in stages.items() if "one photo at a time" in k}
    serial_sum = sum(v for k, v in stages.items() if k not in unbatched)
    unbatched_sum = serial_sum + sum(unbatched.values()) - sum(
        v for k, v in stages.items() if k.endswith(", batched"))
    cut_sum = sum(v for k, v in stages.items() if k.startswith("cuts"))
    print(f"{n} photos x {methods} x {localisers}, top-{args.top_k} + truth, map batch {args.map_batch}, "
          f"device {device}, torch threads {torch.get_num_threads()}, repeats {args.repeats}")
    print(table([[k, f"{1000 * v:.1f}"] for k, v in stages.items()], ["stage", "ms per photo"]))
    print(f"\nsum of stages: {1000 * serial_sum:.0f} ms per photo with batched maps "
          f"({1 / serial_sum:.2f} photos/s), {1000 * unbatched_sum:.0f} ms with maps one photo at a time "
          f"({1 / unbatched_sum:.2f} photos/s); cuts {1000 * cut_sum:.0f} ms of it")
    for workers in (w for w in counts if w):
        bound = max(serial_sum - cut_sum, cut_sum / workers)
        print(f"with {workers} workers on {workers + 1} free cores: at best max(main {1000 * (serial_sum - cut_sum):.0f}, "
              f"cuts / {workers} = {1000 * cut_sum / workers:.0f}) = {1000 * bound:.0f} ms per photo "
              f"({1 / bound:.2f} photos/s); on {os.cpu_count()} cores shared with the main process: "
              f"{1000 * max(bound, serial_sum / (os.cpu_count() or 1)):.0f} ms")
    rows = []
    for workers, t in times.items():
        best = min(t)
        own, children = cpu[workers]
        rows.append([str(workers), f"{best:.1f}", f"{n / best:.2f}", f"{(n / best) * serial_sum:.2f}",
                     f"{own:.1f} + {children:.1f}", f"{(own + children) / t[-1]:.2f}"])
    print(table(rows, ["workers", "study seconds", "photos/s", "photos/s ÷ (1 / sum of stages)",
                       "CPU s (main + workers)", "cores busy"]))
    for workers, seconds in startup.items():
        print(f"starting {workers} worker processes (spawn, imports): {seconds:.1f} s")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(f"identical records: {len(set(records.values())) == 1}")


if __name__ == "__main__":
    main()
