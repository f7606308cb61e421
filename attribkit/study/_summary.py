"""From records to the results table: one row per method × localiser, the same for any shard split."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from attribkit.study._records import Record

#: Columns of the table, with what each means (the Markdown table's footnote).
COLUMNS = {
    "method": "attributor",
    "localiser": "localiser ('-': maps only)",
    "images": "photos with a map",
    "deletion_auc": "area under the deletion curve, mean (lower is better)",
    "insertion_auc": "area under the insertion curve, mean (higher is better)",
    "pointing": "pointing game: the map's maximum within 15 px of a ground-truth box, fraction of photos",
    "max_box_acc": "MaxBoxAcc: best over map thresholds of the fraction of photos boxed with IoU >= 0.5",
    "loc_accuracy": "fraction of photos whose box has IoU >= 0.5 with a ground-truth box (GT-known)",
    "mean_iou": "IoU of the box with the best-matching ground-truth box, mean",
}


@dataclass(frozen=True)
class Row:
    method: str
    localiser: str
    images: int
    deletion_auc: float | None
    insertion_auc: float | None
    pointing: float | None
    max_box_acc: float | None
    loc_accuracy: float | None
    mean_iou: float | None


def _mean(values: Sequence[float]) -> float | None:
    # fsum over records sorted by key: the same number however the photos were split or ordered.
    return math.fsum(values) / len(values) if values else None


def summarise(records: Sequence[Record], *, methods: Sequence[str] = (), localisers: Sequence[str] = ()) -> list[Row]:
    """The results table. Rows follow ``methods`` × ``localisers`` order, then any others found, sorted."""
    records = sorted(records, key=lambda r: (r["kind"], r["image"], r["method"], r.get("localiser", "")))
    maps = [r for r in records if r["kind"] == "map"]
    boxes = [r for r in records if r["kind"] == "box"]
    found_methods = list(dict.fromkeys([*methods, *sorted({r["method"] for r in maps})]))
    found_locs = list(dict.fromkeys([*localisers, *sorted({r["localiser"] for r in boxes})])) or ["-"]
    rows = []
    for method in found_methods:
        mine = [r for r in maps if r["method"] == method]
        deletion = _mean([r["deletion_auc"] for r in mine if r.get("deletion_auc") is not None])
        insertion = _mean([r["insertion_auc"] for r in mine if r.get("insertion_auc") is not None])
        pointing = _mean([r["pointing"] for r in mine if "pointing" in r])
        curves = [r["box_acc"] for r in mine if "box_acc" in r]
        # MaxBoxAcc takes the best threshold for the whole dataset, not per photo: mean first, then max.
        box_acc = max(math.fsum(column) / len(column) for column in zip(*curves)) if curves else None
        for loc in found_locs:
            hits = [r for r in boxes if r["method"] == method and r["localiser"] == loc and r["iou"] is not None]
            rows.append(Row(method, loc, len(mine), deletion, insertion, pointing, box_acc,
                            _mean([float(r["iou"] >= 0.5) for r in hits]), _mean([r["iou"] for r in hits])))
    return rows


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def to_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, c)) for c in COLUMNS])
    return buffer.getvalue()


def to_markdown(rows: Sequence[Row]) -> str:
    cells = [[_cell(getattr(row, c)) for c in COLUMNS] for row in rows]
    header = list(COLUMNS)
    widths = [max(len(x) for x in col) for col in zip(header, *cells)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    notes = "\n".join(f"- `{k}`: {v}" for k, v in COLUMNS.items())
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *map(line, cells), "", notes, ""])
