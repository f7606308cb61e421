"""Speed-up of running localisers (GraphCut) in worker processes beside the maps, against serially.

    python bench/study_overlap.py [--localiser graphcut] [--methods saliency,random] [--steps 0]

Runs the same study (the bundled sample photos, default model) with ``workers=0`` (maps and GraphCut
one after the other in one process) and with 1 and 2 worker processes, in fresh output folders, and
prints a table of wall-clock times. Worker start-up is included: it is part of what a user waits for.
The results of every run are checked to be identical.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

import attribkit
import attribkit.study
from attribkit.study import run_study

from _timing import table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--localiser", default="graphcut")
    parser.add_argument("--methods", default="saliency,random")
    parser.add_argument("--data", default="samples")
    parser.add_argument("--steps", type=int, default=0, help="deletion/insertion steps (0: maps only)")
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N photos of --data")
    parser.add_argument("--options", default="{}", help='localiser options as JSON, e.g. \'{"work_size": null}\'')
    args = parser.parse_args()
    if args.localiser not in attribkit.list_localisers():
        raise SystemExit(f"localiser {args.localiser!r} is not registered; have: {attribkit.list_localisers()}")
    model = attribkit.load_model()
    from attribkit.study._data import class_of

    data = attribkit.study.study_images(args.data, class_index=lambda label: class_of(model, label))
    data = data[: args.limit] if args.limit else data
    options = {args.localiser: json.loads(args.options)}
    methods = args.methods.split(",")
    counts = [int(w) for w in args.workers.split(",")]
    root = Path(tempfile.mkdtemp(prefix="attribkit-bench-"))
    times: dict[int, list[float]] = {w: [] for w in counts}
    tables = {}
    try:
        run_study(model, "samples:coffee", methods=methods[:1], out=root / "warmup", workers=0, steps=0,
                  gallery=0, progress=False)
        for repeat in range(args.repeats):
            for workers in counts:  # interleaved, so drift in the machine's load hits all alike
                out = root / f"w{workers}-{repeat}"
                start = time.perf_counter()
                result = run_study(model, data, methods=methods, localisers=[args.localiser], out=out,
                                   workers=workers, steps=args.steps, gallery=0, progress=False,
                                   localiser_options=options)
                times[workers].append(time.perf_counter() - start)
                tables[workers] = (out / "results.csv").read_text()
                assert result is not None
        same = len(set(tables.values())) == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    serial = min(times[0]) if 0 in times else None
    rows = [[str(w), f"{min(t):.1f}", f"{serial / min(t):.2f}x" if serial else "-"] for w, t in times.items()]
    print(f"{len(data)} photos x {len(methods)} methods x {args.localiser} {options[args.localiser]}, "
          f"curve steps {args.steps}, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(table(rows, ["workers", "seconds", "speed-up vs serial"]))
    print(f"identical tables: {same}")


if __name__ == "__main__":
    main()
