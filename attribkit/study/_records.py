"""Per-image results as JSON lines, made durable one by one so an interrupted study loses nothing.

Each record is one line, written with a single ``write`` and then ``fsync``'d: after ``kill -9`` the file
holds every finished record and at most one partial last line, which :func:`read_records` drops (the
resumed study recomputes it). Floats are written with ``repr`` precision, so a record read back is
bit-identical to the one computed.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]
#: ``(kind, image, method, localiser)``: ``kind`` is ``"map"`` (faithfulness of one method's map, with
#: ``localiser == ""``) or ``"box"`` (one localiser on that map).
Key = tuple[str, str, str, str]

RECORDS_DIR = "records"
#: Wall-clock costs, kept apart from the records: a record is a function of its key alone (so a resumed,
#: sharded or repeated study writes the same records), a time is not.
TIMINGS_DIR = "timings"


def record_key(record: Record) -> Key:
    """The identity of a record: a study computes each key once."""
    return (record["kind"], record["image"], record["method"], record.get("localiser", ""))


class RecordWriter:
    """Appends records to one JSON-lines file, ``fsync``-ing each (one writer per process)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_line(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, record: Record) -> None:
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_partial_line(path: Path) -> None:
    """A process killed mid-write can leave a last line without its newline; cut it before appending."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _lines(path: Path) -> Iterator[Record]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue  # the partial last line of a killed process: that record is recomputed
            warnings.warn(f"{path}: skipping unreadable line {i + 1}", RuntimeWarning, stacklevel=3)


def record_files(out: Path) -> list[Path]:
    """Every shard's record file under a study's output folder, sorted."""
    return sorted((Path(out) / RECORDS_DIR).glob("*.jsonl"))


def read_timings(out: str | Path) -> dict[Key, float]:
    """Milliseconds per photo of each computed record (the first time written for a key), by record key.

    Map keys hold the map's cost; box keys the localiser's (K cuts for the top-k protocol). Both are
    charged for the top-k classes only, as ``attribkit evaluate`` has always reported them.
    """
    times: dict[Key, float] = {}
    for path in sorted((Path(out) / TIMINGS_DIR).glob("*.jsonl")):
        for record in _lines(path):
            times.setdefault(record_key(record), float(record["ms"]))
    return times


def read_records(out: str | Path | Iterable[Path]) -> list[Record]:
    """All records of a study (every shard), one per key, sorted by key.

    Parameters
    ----------
    out
        The study's output folder, or record files.
    """
    files = record_files(Path(out)) if isinstance(out, (str, Path)) else list(out)
    merged: dict[Key, Record] = {}
    for path in files:
        for record in _lines(path):
            merged.setdefault(record_key(record), record)
    return [merged[k] for k in sorted(merged)]
