"""From records to rows: every table of a study (and of ``attribkit evaluate``) is computed here, from the
records alone, so it is the same after any interruption and for any shard split.

One :class:`Row` holds every metric; a table is a choice of its columns (:data:`COLUMNS` for the study's
``results.csv``, :data:`EVALUATE_COLUMNS` for ``attribkit evaluate``'s ``metrics.csv``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from attribkit.study._records import Key, Record
from attribkit.study._settings import Setting

#: Every metric of a row, with what it means (tables' footnotes, the HTML page's column titles).
METRICS = {
    "setting": "the setting's name",
    "subset": "the photos: all, or a range of them in the data's order",
    "method": "attributor (and map options that differ from the defaults)",
    "localiser": "localiser ('-': maps only)",
    "images": "photos with a map",
    "deletion_auc": "area under the deletion curve, mean (lower is better)",
    "insertion_auc": "area under the insertion curve, mean (higher is better)",
    "pointing": "pointing game: the map's maximum within 15 px of a ground-truth box, fraction of photos",
    "max_box_acc": "MaxBoxAcc: best over map thresholds of the fraction of photos boxed with IoU >= 0.5",
    "max_box_acc_v2": "MaxBoxAccV2 (Choe et al. 2020): every contour's box; mean over IoU 0.3/0.5/0.7 of the "
                      "best BoxAcc over map thresholds",
    "loc_accuracy": "fraction of photos whose box has IoU >= 0.5 with a ground-truth box (GT-known)",
    "mean_iou": "IoU of the box with the best-matching ground-truth box, mean",
    "top1_error": "ILSVRC top-1 localisation error: the top class's box is not right (class and IoU >= 0.5)",
    "top5_error": "ILSVRC top-5 localisation error: none of the top-5 classes' boxes is right",
    "ms_per_photo": "milliseconds per photo: the map and the localiser, charged for the top-k classes",
}

#: The study's table (``results.csv``, ``results.md``, the HTML page).
COLUMNS = {k: METRICS[k] for k in ("method", "localiser", "images", "deletion_auc", "insertion_auc", "pointing",
                                   "max_box_acc", "loc_accuracy", "mean_iou")}
#: ``attribkit evaluate``'s table: its header name → the row's metric (GT-known is ``loc_accuracy``).
EVALUATE_COLUMNS = {"setting": "setting", "subset": "subset", "images": "images", "gt_known": "loc_accuracy",
                    "top1_error": "top1_error", "top5_error": "top5_error", "max_box_acc": "max_box_acc",
                    "max_box_acc_v2": "max_box_acc_v2", "pointing": "pointing", "ms_per_photo": "ms_per_photo"}


@dataclass(frozen=True)
class Row:
    """One setting's metrics on some photos (``None``: not measured, e.g. no ground truth)."""

    method: str
    localiser: str
    images: int
    deletion_auc: float | None
    insertion_auc: float | None
    pointing: float | None
    max_box_acc: float | None
    loc_accuracy: float | None
    mean_iou: float | None
    top1_error: float | None = None
    top5_error: float | None = None
    ms_per_photo: float | None = None
    setting: str = ""
    subset: str = "all"
    max_box_acc_v2: float | None = None


def _mean(values: Sequence[float]) -> float | None:
    # fsum over records sorted by key: the same number however the photos were split or ordered.
    return math.fsum(values) / len(values) if values else None


def _loc_error(boxes: Sequence[Record], k: int) -> float | None:
    if not boxes or not all("guesses" in r for r in boxes):
        return None
    from attribkit.metrics import localisation_error

    return localisation_error([[(c, b) for c, b in r["guesses"]] for r in boxes],
                              [[(r["target"], b) for b in r["truth"]] for r in boxes], k=k)


def summarise(
    records: Sequence[Record],
    *,
    methods: Sequence[str] = (),
    localisers: Sequence[str] = (),
    settings: Sequence[Setting] | None = None,
    subsets: Mapping[str, Sequence[str]] | None = None,
    timings: Mapping[Key, float] | None = None,
) -> list[Row]:
    """The table from records.

    Parameters
    ----------
    records
        A study's records (:func:`~attribkit.study.read_records`).
    methods, localisers
        Without ``settings``: rows for ``methods`` × ``localisers`` in that order, then any others found in
        the records, sorted.
    settings
        Rows for these settings, in order (named by :attr:`Setting.name`).
    subsets
        Name → photo names; one row per setting and subset (default: ``{"all": every photo}``).
    timings
        Milliseconds by record key (:func:`~attribkit.study._records.read_timings`) for ``ms_per_photo``.
    """
    records = sorted(records, key=lambda r: (r["kind"], r["image"], r["method"], r.get("localiser", "")))
    maps = [r for r in records if r["kind"] == "map"]
    boxes = [r for r in records if r["kind"] == "box"]
    if settings is None:
        found_methods = list(dict.fromkeys([*methods, *sorted({r["method"] for r in maps})]))
        found_locs = list(dict.fromkeys([*localisers, *sorted({r["localiser"] for r in boxes})])) or ["-"]
        pairs = [("", m, loc) for m in found_methods for loc in found_locs]
    else:
        resolved = [s.resolve() for s in settings]
        pairs = [(r.setting.name, r.map_label, r.localiser_label or "-") for r in resolved]
    rows = []
    for name, method, loc in pairs:
        chosen: Mapping[str, Sequence[str] | None] = subsets if subsets is not None else {"all": None}
        for subset, images in chosen.items():
            wanted = None if images is None else set(images)
            mine = [r for r in maps if r["method"] == method and (wanted is None or r["image"] in wanted)]
            theirs = [r for r in boxes if r["method"] == method and r["localiser"] == loc
                      and (wanted is None or r["image"] in wanted)]
            rows.append(_row(name, subset, method, loc, mine, theirs, timings))
    return rows


def _row(name: str, subset: str, method: str, loc: str, maps: Sequence[Record], boxes: Sequence[Record],
         timings: Mapping[Key, float] | None) -> Row:
    curves = [r["box_acc"] for r in maps if "box_acc" in r]
    # MaxBoxAcc takes the best threshold for the whole dataset, not per photo: mean first, then max.
    box_acc = max(math.fsum(column) / len(column) for column in zip(*curves)) if curves else None
    box_acc_v2 = _max_box_acc_v2([r["box_acc_v2"] for r in maps if "box_acc_v2" in r])
    hits = [r for r in boxes if r["iou"] is not None]
    ms = None
    if timings is not None:
        per_photo = []
        for r in maps:
            cost = timings.get(("map", r["image"], method, ""))
            if loc != "-":
                cut = timings.get(("box", r["image"], method, loc))
                cost = None if cost is None or cut is None else cost + cut
            if cost is not None:
                per_photo.append(cost)
        ms = _mean(per_photo)
    return Row(
        method, loc, len(maps),
        _mean([r["deletion_auc"] for r in maps if r.get("deletion_auc") is not None]),
        _mean([r["insertion_auc"] for r in maps if r.get("insertion_auc") is not None]),
        _mean([r["pointing"] for r in maps if "pointing" in r]),
        box_acc,
        _mean([float(r["iou"] >= 0.5) for r in hits]),
        _mean([r["iou"] for r in hits]),
        _loc_error(boxes, 1), _loc_error(boxes, 5), ms, name, subset, box_acc_v2,
    )


def _max_box_acc_v2(tables: Sequence[Sequence[Sequence[int]]]) -> float | None:
    """From per-photo ``[IoU thresholds][map thresholds]`` hits: per IoU threshold the best map threshold
    for the whole set (mean over photos first, then max), then the mean over IoU thresholds."""
    if not tables:
        return None
    best = [max(math.fsum(column) / len(column) for column in zip(*per_iou)) for per_iou in zip(*tables)]
    return math.fsum(best) / len(best)


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def to_csv(rows: Sequence[Row]) -> str:
    """The study's table as CSV (:data:`COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, c)) for c in COLUMNS])
    return buffer.getvalue()


def to_markdown(rows: Sequence[Row]) -> str:
    """The study's table as Markdown, with a footnote per column."""
    cells = [[_cell(getattr(row, c)) for c in COLUMNS] for row in rows]
    header = list(COLUMNS)
    widths = [max(len(x) for x in col) for col in zip(header, *cells)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    notes = "\n".join(f"- `{k}`: {v}" for k, v in COLUMNS.items())
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *map(line, cells), "", notes, ""])


def skipped_note(skipped: Mapping[str, str]) -> str:
    """A Markdown note under a table: the photos left out and why (``""`` when none was)."""
    if not skipped:
        return ""
    lines = [f"- `{name}`: {why}" for name, why in skipped.items()]
    return "\n".join(["", f"**{len(skipped)} photo(s) skipped** (not in the table):", *lines, ""])
