"""Per-image results as JSON lines, made durable one by one so an interrupted study loses nothing.

Each record is one line, written with a single ``write`` and then ``fsync``'d: after ``kill -9`` the file
holds every finished record and at most one partial last line, which :func:`read_records` drops (the
resumed study recomputes it). Any other line that is not a record (``{}``, ``null``, truncated JSON,
invalid UTF-8) is skipped with a warning naming the file and the line, and its result is recomputed; the
line itself is left where it is (the study never deletes what it did not write just now). Floats are
written with ``repr`` precision, so a record read back is bit-identical to the one computed.

The annotations that decide a record (the photo's label and boxes) belong to its identity: each record of
an annotated photo holds their digest (``annotation``: :attr:`StudyImage.annotation
<attribkit.study.StudyImage.annotation>`), and a reader given the current digests drops the records
computed from other annotations (corrected since, or written before the digest was recorded), so a
resumed study computes them again and its tables never mix the two.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from attribkit.errors import AttribkitWarning

Record = dict[str, Any]
#: ``(kind, image, method, localiser)``: ``kind`` is ``"map"`` (faithfulness of one method's map, with
#: ``localiser == ""``), ``"box"`` (one localiser on that map), or one of the checks ``"road"`` and
#: ``"sanity"`` (:mod:`attribkit.study._checks`, ``localiser == ""``).
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


#: The fields a record must have to be used: its key, and what the tables read (older records have them).
_REQUIRED = {"map": (), "box": ("localiser", "box", "iou"), "road": ("fractions", "morf", "lerf"),
             "sanity": ("layers", "spearman", "spearman_abs", "ssim", "hog")}


def _problem(value: Any, *, timing: bool = False) -> str | None:
    """Why a parsed line is not a usable record (``None``: it is one)."""
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    kind = value.get("kind")
    if kind not in _REQUIRED:
        return f"'kind' must be one of {', '.join(map(repr, _REQUIRED))}, got {kind!r}"
    missing = [k for k in ("image", "method", *(("ms",) if timing else _REQUIRED[kind])) if k not in value]
    if missing:
        return f"no {', '.join(repr(k) for k in missing)}"
    if not all(isinstance(value.get(k, ""), str) for k in ("image", "method", "localiser")):
        return "'image', 'method' and 'localiser' must be strings"
    if timing and not isinstance(value["ms"], (int, float)):
        return "'ms' must be a number"
    return None


def _lines(path: Path, *, timing: bool = False) -> Iterator[Record]:
    """The usable records of one file; any other line is skipped with an :class:`AttribkitWarning` naming
    the file and the line (its key stays missing, so a resumed study computes it again).

    Bytes are decoded line by line: one line of invalid UTF-8 costs that line, not the file.
    """
    lines = path.read_bytes().split(b"\n")
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if i == len(lines) - 1:
                continue  # the partial last line of a killed process: that record is recomputed
            problem = f"not JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        else:
            found = _problem(value, timing=timing)
            if found is None:
                yield value
                continue
            problem = found
        then = "its time is left out" if timing else "its result is computed again"
        warnings.warn(f"{path}: line {i + 1} skipped ({problem}); {then}", AttribkitWarning, stacklevel=3)


def record_files(out: Path) -> list[Path]:
    """Every shard's record file under a study's output folder, sorted."""
    return sorted((Path(out) / RECORDS_DIR).glob("*.jsonl"))


#: Image name → the digest of its current annotations (``None``: the photo has none); see the module.
Annotations = Mapping[str, "str | None"]


def current(record: Record, annotations: Annotations | None) -> bool:
    """Whether ``record`` was computed from the photo's current annotations (always, for a photo not in
    ``annotations`` or without them)."""
    return annotations is None or record["image"] not in annotations \
        or record.get("annotation") == annotations[record["image"]]


def read_timings(out: str | Path, annotations: Annotations | None = None) -> dict[Key, float]:
    """Milliseconds per photo of each computed record (the first time written for a key), by record key.

    Map keys hold the map's cost; box keys the localiser's (K cuts for the top-k protocol). Both are
    charged for the top-k classes only, as ``attribkit evaluate`` has always reported them. With
    ``annotations``, as :func:`read_records`.
    """
    times: dict[Key, float] = {}
    for path in sorted((Path(out) / TIMINGS_DIR).glob("*.jsonl")):
        for record in _lines(path, timing=True):
            if current(record, annotations):
                times.setdefault(record_key(record), float(record["ms"]))
    return times


def read_records(out: str | Path | Iterable[Path], annotations: Annotations | None = None) -> list[Record]:
    """All records of a study (every shard), one per key, sorted by key.

    Parameters
    ----------
    out
        The study's output folder, or record files.
    annotations
        Image name → the digest of its current annotations (:attr:`StudyImage.annotation
        <attribkit.study.StudyImage.annotation>`): records of those photos computed from other annotations
        are left out. Default: every record (the first written for each key).
    """
    return read_records_and_outdated(out, annotations)[0]


def read_records_and_outdated(out: str | Path | Iterable[Path],
                              annotations: Annotations | None = None) -> tuple[list[Record], set[Key]]:
    """:func:`read_records`, and in the same pass the keys it left out because their records were computed
    from other annotations only (a key with a current record on file too is not among them)."""
    files = record_files(Path(out)) if isinstance(out, (str, Path)) else list(out)
    merged: dict[Key, Record] = {}
    outdated: set[Key] = set()
    for path in files:
        for record in _lines(path):
            if current(record, annotations):
                merged.setdefault(record_key(record), record)
            else:
                outdated.add(record_key(record))
    return [merged[k] for k in sorted(merged)], outdated - merged.keys()


def read_keys_and_outdated(out: str | Path, annotations: Annotations | None = None) -> tuple[set[Key], set[Key]]:
    """:func:`read_records_and_outdated`'s keys only: what a resumed study needs to know what is done,
    without holding every record on file in memory for the whole run (about 6 kB each with MaxBoxAcc's
    curves: 300 MB for 50,000 photos)."""
    done: set[Key] = set()
    outdated: set[Key] = set()
    for path in record_files(Path(out)):
        for record in _lines(path):
            (done if current(record, annotations) else outdated).add(record_key(record))
    return done, outdated - done
