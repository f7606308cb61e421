"""A study at ILSVRC-validation scale on the CPU: 50,000 synthetic photos, flat memory, kill -9 and resume,
and a 4-shard merge equal to the single run, record for record.

    python bench/study_dry_run.py [--photos 50000] [--shards 4] [--root /dev/shm/attribkit-dry-run]
                                  [--phase all|single|shards|compare] [--kill-at 0.5] [--map-batch 32]

The photos are :func:`attribkit.study._synthetic.synthetic_study_images` (40x48 noise with a bright box,
made when read, never written to disk) and the model a tiny CNN (32x32 crops, 10 classes), so the study's
machinery, not the model, is what is measured. Each study runs the ``attribkit evaluate`` protocol with
the default preset (Grad-CAM + threshold; the model's top-5 classes and the true class, MaxBoxAcc V1/V2
and pointing per map record, no curves), in a child process (localisers in that process: ``workers=0``).

- ``single``: one study over every photo; its child is killed with SIGKILL once ``--kill-at`` of the
  records are written, then started again (it resumes). The child's resident memory is sampled every
  0.2 s from ``/proc``: the peak up to 5k, 25k and the last record, and the peak while the report is
  written (the records are read back whole for the tables).
- ``shards``: ``--shards`` studies with ``shard=(i, n)`` into folders of their own (one after another, or
  side by side with ``--parallel``), then :func:`attribkit.study.merge_studies` into one.
- ``compare``: the merged records equal the single run's, record for record; the line count of the
  single run's record file says no record was written twice by the resume.

Figures go to ``ROOT/dry_run.json`` and stdout. The records live under ``--root`` (about 3 kB per photo per
folder; default on ``/dev/shm``, so ``fsync`` costs memory speed, not a disk's).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def tiny_model():  # type: ignore[no-untyped-def]
    """The tests' tiny classifier (tests/_study_helpers.py): deterministic, 32x32 crops of 40-px photos."""
    import torch

    import attribkit
    from attribkit.models import ModelInfo, Preprocessing

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32, 10),
    )
    classes = tuple(f"class {i}" for i in range(10))
    return attribkit.attach_info(model.eval(), ModelInfo("tiny", Preprocessing(resize=40, crop=32), classes))


def child(out: str, photos: int, shard: str | None, map_batch: int) -> None:
    """One study (or shard) in this process; prints a line when its records are computed."""
    import torch

    torch.set_num_threads(1)  # records compared bit for bit: the same float operations in the same order
    from attribkit.study._synthetic import synthetic_study_images
    from attribkit.study import Setting, run_study

    items = synthetic_study_images(photos)
    sharded = {} if shard is None else {"shard": tuple(int(v) for v in shard.split("/"))}
    run_study(tiny_model(), items, settings=[Setting("default (gradcam+threshold)")], out=out, workers=0,
              steps=0, gallery=8, top_k=5, map_batch=map_batch, progress=False, **sharded)


class Sampler(threading.Thread):
    """Samples a child's resident memory (``VmRSS``) and the lines of its record files, every 0.2 s."""

    def __init__(self, pid: int, records: Path, marks: tuple[int, ...]) -> None:
        super().__init__(daemon=True)
        self.pid, self.records, self.marks = pid, records, marks
        self.peak, self.lines, self.at_mark, self.after_last = 0, 0, {}, 0
        self._offsets: dict[Path, int] = {}
        self.stop = threading.Event()

    def _rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _count(self) -> int:
        for path in sorted(self.records.glob("*.jsonl")) if self.records.is_dir() else []:
            start = self._offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            self.lines += data.count(b"\n")
            self._offsets[path] = start + len(data)
        return self.lines

    def run(self) -> None:
        while not self.stop.is_set():
            rss, lines = self._rss(), self._count()
            if lines >= max(self.marks):
                self.at_mark.setdefault(max(self.marks), self.peak)
                self.after_last = max(self.after_last, rss)  # the report: records read back, tables, plots
            else:
                self.peak = max(self.peak, rss)
                for mark in self.marks:
                    if lines >= mark:
                        self.at_mark.setdefault(mark, self.peak)
            time.sleep(0.2)


def start(out: Path, photos: int, shard: str | None, map_batch: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, str(HERE), "--child", str(out), "--photos", str(photos), "--map-batch", str(map_batch)]
    if shard:
        command += ["--shard", shard]
    with open(log, "ab") as f:
        return subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT)


def single(root: Path, photos: int, kill_at: float, map_batch: int) -> dict:
    out, log = root / "single", root / "single.log"
    total = 2 * photos  # one map and one box record per photo
    marks = tuple(m for m in (5_000, 25_000) if m < total) + (total,)
    figures: dict = {"photos": photos, "records": total}
    begin = time.perf_counter()
    if kill_at > 0 and not (out / "records").is_dir():
        proc = start(out, photos, None, map_batch, log)
        sampler = Sampler(proc.pid, out / "records", marks)
        sampler.start()
        while proc.poll() is None and sampler.lines < kill_at * total:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sampler.stop.set()
        sampler.join()
        figures["killed_after_records"] = sampler.lines
        figures["killed_after_s"] = round(time.perf_counter() - begin, 1)
        first = sampler
    else:
        first = None
    proc = start(out, photos, None, map_batch, log)
    sampler = Sampler(proc.pid, out / "records", marks)
    sampler.start()
    code = proc.wait()
    sampler.stop.set()
    sampler.join()
    figures["exit_status"] = code
    figures["seconds"] = round(time.perf_counter() - begin, 1)
    # The resumed process starts counting at what the killed one wrote: its marks are of the whole study.
    peaks = dict(first.at_mark) if first else {}
    for mark, rss in sampler.at_mark.items():
        peaks[mark] = max(rss, peaks.get(mark, 0))
    figures["peak_rss_mb_at_records"] = {str(m): round(v / 2**20) for m, v in sorted(peaks.items())}
    figures["peak_rss_mb_compute"] = round(max(sampler.peak, first.peak if first else 0) / 2**20)
    figures["peak_rss_mb_report"] = round(sampler.after_last / 2**20)
    return figures


def shards(root: Path, photos: int, count: int, map_batch: int, parallel: bool) -> dict:
    from attribkit.study import merge_studies

    figures: dict = {"shards": count, "parallel": parallel, "seconds": {}, "exit_status": {}, "peak_rss_mb": {}}
    begin = time.perf_counter()
    running = []
    for i in range(count):
        proc = start(root / f"shard{i}", photos, f"{i}/{count}", map_batch, root / f"shard{i}.log")
        sampler = Sampler(proc.pid, root / f"shard{i}" / "records", (10**12,))
        sampler.start()
        running.append((i, proc, sampler))
        if not parallel:
            _finish(figures, begin, i, proc, sampler)
    for i, proc, sampler in running if parallel else []:
        _finish(figures, begin, i, proc, sampler)
    figures["all_shards_seconds"] = round(time.perf_counter() - begin, 1)
    begin = time.perf_counter()
    merged = merge_studies([root / f"shard{i}" for i in range(count)], root / "merged")
    figures["merge_seconds"] = round(time.perf_counter() - begin, 1)
    figures["merge_missing"] = len(merged.missing)
    return figures


def _finish(figures: dict, begin: float, i: int, proc: subprocess.Popen, sampler: Sampler) -> None:
    figures["exit_status"][str(i)] = proc.wait()
    sampler.stop.set()
    sampler.join()
    figures["seconds"][str(i)] = round(time.perf_counter() - begin, 1)
    figures["peak_rss_mb"][str(i)] = round(sampler.peak / 2**20)


def compare(root: Path, photos: int) -> dict:
    from attribkit.study import read_records

    single_records = read_records(root / "single")
    merged_records = read_records(root / "merged")
    lines = sum(p.read_bytes().count(b"\n") for p in (root / "single" / "records").glob("*.jsonl"))
    return {"single_records": len(single_records), "merged_records": len(merged_records),
            "equal": single_records == merged_records, "single_record_lines": lines,
            "expected_records": 2 * photos}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=50_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--root", default="/dev/shm/attribkit-dry-run")
    parser.add_argument("--phase", default="all", choices=("all", "single", "shards", "compare"))
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of the records before kill -9 (0: none)")
    parser.add_argument("--map-batch", type=int, default=32)
    parser.add_argument("--parallel", action="store_true", help="run the shards side by side, not one after another")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shard", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.photos, args.shard, args.map_batch)
        return
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    results_path = root / "dry_run.json"

    def save(phase: str, figures: dict) -> None:
        # Read again before writing: phases may run side by side (two processes, one file).
        results = json.loads(results_path.read_text()) if results_path.is_file() else {}
        results[phase] = {**figures, "load_average_at_end": os.getloadavg()}
        results_path.write_text(json.dumps(results, indent=1))
        print(json.dumps({phase: results[phase]}), flush=True)

    if args.phase in ("all", "single"):
        save("single", single(root, args.photos, args.kill_at, args.map_batch))
    if args.phase in ("all", "shards"):
        save("shards", shards(root, args.photos, args.shards, args.map_batch, args.parallel))
    if args.phase in ("all", "compare"):
        save("compare", compare(root, args.photos))


if __name__ == "__main__":
    main()
