"""Photos per second of the ``attribkit evaluate`` protocol against the sum of its stages and against the
model's forward+backward limit, serially, with localiser workers and with loader workers.

    python bench/study_throughput.py [--data ../shared/data/imagenet-dev/boxes.json] [--limit 40]
                                     [--copies 1] [--methods ''] [--localisers '']
                                     [--workers 0,2] [--loader-workers 0,2] [--repeats 1]
                                     [--map-batch 8] [--device cpu] [--precision fp32] [--json FILE]

The study is the ``attribkit evaluate`` protocol: for each annotated photo the model's top-5 classes and
the true class (six maps per method, one forward and one batched backward for a batch of photos), each
localiser on the six maps, MaxBoxAcc V1/V2 and the pointing game per map, no curves, no gallery. By
default its one row is the default preset (Grad-CAM + threshold, the first row of ``attribkit
evaluate``); ``--methods``/``--localisers`` give every method x localiser instead. ``--copies N`` repeats
every photo N times under new names (real JPEGs decoded again, so runs long enough for a GPU).

In the same process and on the same photos it measures each stage alone (median of ``--repeats``
interleaved runs, ``bench/_timing.py``): reading and preprocessing a photo, the forward pass that picks
its classes, each method's maps in batches of ``--map-batch`` photos and one photo at a time, each
localiser's six cuts, the map metrics (photo map, pointing game, MaxBoxAcc V1 and V2) and writing the
records (JSON line + fsync); and, once, how long worker processes take to start. The sum of the stages is
what a serial study should cost. The **limit** is the model alone: one forward of a batch and one
backward pass of its scores to the input (a training step without the optimiser), plain PyTorch, per
photo: the issue's target is the protocol (six classes' maps, cuts, metrics, decoding) within 2x of it.
The table reports how close the whole study comes to both, for each
number of localiser workers and loader workers (``--loader-workers``, when this attribkit has them), and
checks that every run wrote the same records. ``--json FILE`` also writes every figure to FILE
(``bench/gpu.sh`` collects them).
"""

from __future__ import annotations

import argparse
import inspect
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
from attribkit.localisation._maps import crop_maps, photo_saliency
from attribkit.metrics import max_box_acc, max_box_acc_v2, pointing_game
from attribkit.study import Setting, StudyImage, evaluate, read_records, study_images
from attribkit.study._batches import pad_batch, pad_rows
from attribkit.study._data import class_of
from attribkit.study._records import RecordWriter
from attribkit.study._runner import make_plan
from attribkit.study._settings import cross_settings
from attribkit.study._workers import localise_job, make_executor

from _timing import interleaved, pick_device, table

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev" / "boxes.json"


#: Whether this attribkit decodes photos in loader processes (``loader_workers``, issue 23 item 1).
HAS_LOADER = "loader_workers" in inspect.signature(evaluate).parameters


def stage_costs(model, items, settings, *, top_k, batch, repeats, device, clock=time.perf_counter):  # type: ignore[no-untyped-def]
    """Seconds per photo of each stage, measured alone (median of ``repeats`` interleaved runs)."""
    plan = make_plan(model, settings, top_k=top_k, batch=min(batch, len(items)))
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
        # game and the MaxBoxAcc V1 and V2 curves (100 thresholds each: a connected-component box, every
        # contour's box).
        def run() -> None:
            for i, (item, image, labels) in enumerate(zip(items, loaded, rows)):
                on_photo = photo_saliency(maps[label][i, labels.index(item.label)], image.geometry)
                pointing_game([on_photo], [item.boxes])
                max_box_acc([on_photo], [item.boxes])
                max_box_acc_v2([on_photo], [item.boxes])
        return run

    def limit() -> None:
        # The model alone: a forward of each batch and one backward pass of its photos' scores to the input
        # (what a training step costs without the optimiser), in plain PyTorch.
        for xs, ts in chunks:
            inputs = pad_batch(xs, b).detach().requires_grad_(True)
            torch.autograd.grad(model(inputs).gather(1, pad_batch(ts, b)[:, :1]).sum(), inputs)

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
    candidates[LIMIT] = limit
    try:
        seconds = interleaved(candidates, repeats=repeats, device=device, clock=clock)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {name: s / len(items) for name, s in seconds.items()}


#: The stage that is the model's forward+backward limit, not a stage of the study.
LIMIT = "limit: forward + backward of the model alone"


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


def synthetic_jpegs(count: int) -> Path:
    """``count`` JPEGs of ILSVRC's usual size (500x375, quality 90) with one box each, and their
    ``boxes.json``, in a temporary folder: a stand-in for the validation set where it is not at hand."""
    from PIL import Image

    from attribkit.data._synthetic import synthetic_photo

    folder = Path(tempfile.mkdtemp(prefix="attribkit-jpegs-"))
    entries = []
    for i in range(count):
        rgb, box = synthetic_photo(i, size=(375, 500))
        Image.fromarray(rgb).save(folder / f"photo{i:05d}.jpg", quality=90)
        entries.append({"file": f"photo{i:05d}.jpg", "label": i % 1000, "boxes": [list(box)]})
    (folder / "boxes.json").write_text(json.dumps({"images": entries}))
    return folder / "boxes.json"


def photos(spec: str, model: torch.nn.Module, limit: int, copies: int) -> list[StudyImage]:
    """The first ``limit`` annotated photos of ``spec`` (``synthetic-jpeg:N``: :func:`synthetic_jpegs`),
    each ``copies`` times under new names."""
    if spec.startswith("synthetic-jpeg:"):
        spec = str(synthetic_jpegs(int(spec.partition(":")[2])))
    items = study_images(spec, class_index=lambda label: class_of(model, label))[:limit]
    return [item if c == 0 else StudyImage(f"{item.name}~{c}", item.source, item.label, item.boxes)
            for c in range(copies) for item in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEV), help="annotations, or synthetic-jpeg:N (N generated JPEGs)")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--copies", type=int, default=1, help="each photo N times under new names")
    parser.add_argument("--methods", default="", help="every method x localiser instead of the default preset")
    parser.add_argument("--localisers", default="")
    parser.add_argument("--workers", default="0,2", help="localiser processes, e.g. 0,2")
    parser.add_argument("--loader-workers", default="0,2", help="photo-decoding processes, e.g. 0,2 (when available)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--map-batch", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16 or fp16 (when available)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every figure to FILE")
    parser.add_argument("--stage-photos", type=int, default=None,
                        help="measure the stages and the limit on the first N photos only (default: all)")
    parser.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                        help="stages timed by the wall clock, or by this process's CPU time (steadier on a busy "
                             "CPU-only machine with one torch thread; meaningless for GPU stages)")
    parser.add_argument("--scratch", default=None, help="under torchrun: the study's folder, shared by the ranks")
    args = parser.parse_args()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return under_torchrun(args)
    device = pick_device(args.device)
    model = attribkit.load_model().to(device)
    items = photos(args.data, model, args.limit, args.copies)
    if args.methods:
        settings = cross_settings(args.methods.split(","), [n for n in args.localisers.split(",") if n])
    else:
        settings = [Setting("default (gradcam+threshold)")]
    counts = [int(w) for w in args.workers.split(",")]
    loaders = [int(w) for w in args.loader_workers.split(",")] if HAS_LOADER else [0]
    runs = [(w, lw) for lw in loaders for w in counts]

    stages = stage_costs(model, items[: args.stage_photos or len(items)], settings, top_k=args.top_k, batch=args.map_batch,
                         repeats=args.repeats, device=device,
                         clock=time.process_time if args.clock == "cpu" else time.perf_counter)
    model_limit = stages.pop(LIMIT)
    root = Path(tempfile.mkdtemp(prefix="attribkit-bench-"))
    times: dict[tuple[int, int], list[float]] = {r: [] for r in runs}
    cpu: dict[tuple[int, int], tuple[float, float]] = {}
    records = {}
    startup = {w: worker_start(w) for w in counts if w}
    extra = {"precision": args.precision} if args.precision != "fp32" else {}
    try:
        for repeat in range(args.repeats):
            for workers, loader in runs:  # interleaved, so drift in the machine's load hits all alike
                out = root / f"w{workers}-l{loader}-{repeat}"
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                start, own = time.perf_counter(), time.process_time()
                evaluate(model, items, settings=settings, out=out, workers=workers, top_k=args.top_k,
                         map_batch=args.map_batch, progress=False, distributed=False,
                         **({"loader_workers": loader} if HAS_LOADER else {}), **extra)
                times[(workers, loader)].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[(workers, loader)] = (time.process_time() - own, max(0.0,
                                          after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime))
                records[(workers, loader)] = json.dumps(read_records(out), sort_keys=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = len(items)
    unbatched = {k: v for k, v in stages.items() if "one photo at a time" in k}
    serial_sum = sum(v for k, v in stages.items() if k not in unbatched)
    cut_sum = sum(v for k, v in stages.items() if k.startswith("cuts"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"{n} photos ({args.limit} x {args.copies}), {[s.name for s in settings]}, top-{args.top_k} + truth, "
          f"map batch {args.map_batch}, {args.precision}, device {device} ({name}), torch threads "
          f"{torch.get_num_threads()}, repeats {args.repeats}")
    print(table([[k, f"{1000 * v:.1f}"] for k, v in stages.items()], ["stage", "ms per photo"]))
    print(f"\nsum of stages: {1000 * serial_sum:.1f} ms per photo ({1 / serial_sum:.2f} photos/s); cuts "
          f"{1000 * cut_sum:.1f} ms of it")
    print(f"model limit (forward + backward to the input, plain PyTorch): {1000 * model_limit:.2f} ms "
          f"per photo ({1 / model_limit:.1f} photos/s; 50,000 photos in {50_000 * model_limit / 60:.1f} min)")
    rows = []
    for (workers, loader), t in times.items():
        best = min(t)
        own, children = cpu[(workers, loader)]
        rows.append([str(workers), str(loader) if HAS_LOADER else "n/a", f"{best:.1f}", f"{n / best:.2f}",
                     f"{(n / best) * serial_sum:.2f}", f"{best / n / model_limit:.1f}",
                     f"{50_000 * best / n / 60:.1f}", f"{own:.1f} + {children:.1f}",
                     f"{1000 * (own + children) / n:.0f}", f"{1000 * own / n:.1f}", f"{(own + children) / t[-1]:.2f}"])
    print(table(rows, ["workers", "loader workers", "study s", "photos/s", "÷ (1 / sum of stages)",
                       "× model limit", "50k photos, min", "CPU s (main + workers)", "CPU ms per photo",
                       "main CPU ms per photo", "cores busy"]))
    for workers, seconds in startup.items():
        print(f"starting {workers} worker processes (spawn, imports): {seconds:.1f} s")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    identical = len(set(records.values())) == 1
    print(f"identical records: {identical}")
    if args.json:
        figures = {"device": name, "photos": n, "settings": [s.name for s in settings], "top_k": args.top_k,
                   "map_batch": args.map_batch, "precision": args.precision, "stages_ms": {k: 1000 * v for k, v in stages.items()},
                   "sum_of_stages_ms": 1000 * serial_sum, "model_limit_ms": 1000 * model_limit,
                   "runs": [{"workers": w, "loader_workers": lw if HAS_LOADER else None, "seconds": min(t),
                             "photos_per_s": n / min(t), "times_model_limit": min(t) / n / model_limit,
                             "minutes_for_50k": 50_000 * min(t) / n / 60,
                             "cpu_seconds_main_and_workers": cpu[(w, lw)]} for (w, lw), t in times.items()],
                   "clock": args.clock,
                   "identical_records": identical, "load_average": os.getloadavg()}
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


def under_torchrun(args: argparse.Namespace) -> None:
    """One ``evaluate`` sharded over the ``torchrun`` ranks (one GPU each), timed from a barrier before it to
    one after it; rank 0 prints the figures and writes ``--json``. No stages: ``bench/gpu.sh`` measures
    them on one GPU."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if args.device.startswith("cuda") else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = attribkit.load_model().to(device)
    items = photos(args.data, model, args.limit, args.copies)
    settings = [Setting("default (gradcam+threshold)")]
    extra = {"precision": args.precision} if args.precision != "fp32" else {}
    if HAS_LOADER:
        extra["loader_workers"] = int(args.loader_workers.split(",")[-1])
    scratch = Path(args.scratch or tempfile.gettempdir()) / "attribkit-bench-torchrun"
    if rank == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    dist.barrier()
    start = time.perf_counter()
    evaluate(model, items, settings=settings, out=scratch, workers=int(args.workers.split(",")[-1]), top_k=args.top_k,
             map_batch=args.map_batch, progress=False, **extra)
    dist.barrier()
    seconds = time.perf_counter() - start
    if rank == 0:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        figures = {"device": f"{world} x {name}", "photos": len(items), "ranks": world, "seconds": seconds,
                   "photos_per_s": len(items) / seconds, "minutes_for_50k": 50_000 * seconds / len(items) / 60,
                   "records": len(read_records(scratch)),
                   **{k: v for k, v in vars(args).items() if k not in ("json", "device")}}
        print(json.dumps(figures, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
