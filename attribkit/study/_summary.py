"""From records to rows: every table of a study (and of ``attribkit evaluate``) is computed here, from the
records alone, so it is the same after any interruption and for any shard split.

One :class:`Row` holds every metric; a table is a choice of its columns (:data:`COLUMNS` for the study's
``results.csv``, :data:`EVALUATE_COLUMNS` for ``attribkit evaluate``'s ``metrics.csv``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attribkit.study._labels import baseline_of, own_cell
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
    "fallbacks": "boxes that are the localiser's documented fallback (flat map, no seeds, empty cut: often the "
                 "whole photo) rather than a localisation, count (n/a: records written before fallbacks were "
                 "recorded)",
    "top1_error": "ILSVRC top-1 localisation error: the top class's box is not right (class and IoU >= 0.5)",
    "top5_error": "ILSVRC top-5 localisation error: none of the top-5 classes' boxes is right",
    "ms_per_photo": "milliseconds per photo: the map and the localiser, charged for the top-k classes",
    "road_morf": "ROAD (Rong et al. 2022), most relevant pixels removed first and imputed: class probability "
                 "averaged over 10%..90% removed (lower is better)",
    "road_lerf": "ROAD, least relevant pixels removed first: class probability averaged over 10%..90% removed "
                 "(higher is better)",
    "randomisation": "sanity check (Adebayo et al. 2018): Spearman rank correlation of the absolute map with the "
                     "trained model's, averaged over the cascade (blocks re-drawn one after the other from the "
                     "logits down); low means the map depends on the learned weights, the top ones included",
    "sanity": "'pass': randomisation below 0.5 with 95% confidence; 'fail': at or above 0.5 with 95% confidence; "
              "'unclear': the interval straddles 0.5; 'too few': fewer than 8 photos checked",
}

#: The sanity check's verdict threshold on ``randomisation`` (Spearman of absolute maps, averaged over the
#: cascade). Adebayo et al. (2018) judge by eye; this number makes the verdict reproducible: below 0.5 the
#: randomised models' maps rank pixels, on average over the cascade, more unlike than like the trained one's.
SANITY_THRESHOLD = 0.5
#: Fewer photos give no verdict (``"too few"``): a percentile bootstrap of 2 or 3 values is no interval.
SANITY_MIN_PHOTOS = 8

#: Metrics that are means of per-photo values, and whether higher is better (the paired comparisons).
PER_PHOTO = {"deletion_auc": False, "insertion_auc": True, "road_morf": False, "road_lerf": True, "pointing": True,
             "loc_accuracy": True, "mean_iou": True, "randomisation": False}

#: The study's table (``results.csv``, ``results.md``, the HTML page).
COLUMNS = {k: METRICS[k] for k in ("method", "localiser", "images", "deletion_auc", "insertion_auc", "road_morf",
                                   "road_lerf", "pointing", "max_box_acc", "max_box_acc_v2", "loc_accuracy",
                                   "mean_iou", "fallbacks", "randomisation", "sanity")}
#: Columns whose cells carry a bootstrap interval (photos resampled): every mean, and the MaxBoxAccs.
INTERVAL_COLUMNS = (*PER_PHOTO, "max_box_acc", "max_box_acc_v2")
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
    road_morf: float | None = None
    road_lerf: float | None = None
    randomisation: float | None = None
    sanity: str | None = None
    """``"pass"``, ``"fail"``, ``"unclear"`` or ``"too few"`` (see :data:`SANITY_THRESHOLD`,
    :data:`SANITY_MIN_PHOTOS`); ``None``: not checked."""
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict, compare=False)
    """Metric → its 95% bootstrap interval (photos resampled), for the metrics measured."""
    per_photo: Mapping[str, Mapping[str, float]] = field(default_factory=dict, compare=False, repr=False)
    """Metric of :data:`PER_PHOTO` → image → the photo's value: what the means and paired tests are made of."""
    fallbacks: int | None = None
    """Boxes that are the localiser's fallback (:attr:`~attribkit.Localisation.fallback`), among the box
    records that say; ``None`` when none does (no localiser, or records older than the field)."""


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
    rows: Sequence[tuple[str, str, str]] | None = None,
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
        Rows for these settings, in order (named by each setting's ``name``).
    subsets
        Name → photo names; one row per setting and subset (default: ``{"all": every photo}``).
    timings
        Milliseconds by record key (:func:`~attribkit.study._records.read_timings`) for ``ms_per_photo``.
    rows
        Instead of ``settings``: the rows as ``(name, map label, localiser label or '-')``, the labels a
        setting resolves to (a merge of shard folders has the labels, not the settings).
    """
    records = sorted(records, key=lambda r: (r["kind"], r["image"], r["method"], r.get("localiser", "")))
    maps = [r for r in records if r["kind"] in ("map", "road", "sanity")]
    boxes = [r for r in records if r["kind"] == "box"]
    if rows is not None:
        pairs = [tuple(r) for r in rows]
    elif settings is None:
        found_methods = list(dict.fromkeys([*methods, *sorted({r["method"] for r in maps if r["kind"] == "map"})]))
        found_locs = list(dict.fromkeys([*localisers, *sorted({r["localiser"] for r in boxes})])) or ["-"]
        pairs = [("", m, loc) for m in found_methods for loc in found_locs]
    else:
        resolved = [s.resolve() for s in settings]
        pairs = [(r.setting.name, r.map_label, r.localiser_label or "-") for r in resolved]
    table = []
    for name, method, loc in pairs:
        chosen: Mapping[str, Sequence[str] | None] = subsets if subsets is not None else {"all": None}
        for subset, images in chosen.items():
            wanted = None if images is None else set(images)
            mine = [r for r in maps if r["method"] == method and (wanted is None or r["image"] in wanted)]
            theirs = [r for r in boxes if r["method"] == method and r["localiser"] == loc
                      and (wanted is None or r["image"] in wanted)]
            table.append(_row(name, subset, method, loc, mine, theirs, timings))
    return table


def photo_values(maps: Sequence[Record], boxes: Sequence[Record]) -> dict[str, dict[str, float]]:
    """Per metric of :data:`PER_PHOTO`, each photo's value (image → value) among one row's records.

    ``maps`` holds the method's ``map``, ``road`` and ``sanity`` records, ``boxes`` its localiser's
    ``box`` records. A photo without the metric (no curve steps, no ground truth, outside the checks'
    photos, or a NaN correlation of two constant maps) is left out of that metric.
    """
    values: dict[str, dict[str, float]] = {k: {} for k in PER_PHOTO}
    for r in maps:
        image = r["image"]
        if r["kind"] == "map":
            for key in ("deletion_auc", "insertion_auc", "pointing"):
                if r.get(key) is not None:
                    values[key][image] = float(r[key])
        elif r["kind"] == "road":
            values["road_morf"][image] = math.fsum(r["morf"]) / len(r["morf"])
            values["road_lerf"][image] = math.fsum(r["lerf"]) / len(r["lerf"])
        elif r["kind"] == "sanity":
            # The area under the cascading curve (mean over steps): a map that ignores the top blocks and
            # changes only when the first convolutions are re-drawn (guided backprop, in Adebayo et al.'s
            # figure 2) scores high, as it should; the last step alone would let it pass.
            steps = [v for v in r["spearman_abs"] if math.isfinite(v)]
            if steps:
                values["randomisation"][image] = math.fsum(steps) / len(steps)
    for r in boxes:
        if r["iou"] is not None:
            values["loc_accuracy"][r["image"]] = float(r["iou"] >= 0.5)
            values["mean_iou"][r["image"]] = float(r["iou"])
    return values


def _max_mean(rows: np.ndarray) -> float:
    """MaxBoxAcc from per-photo hits ``[N, thresholds]`` (or ``[N, IoUs, thresholds]``: their mean)."""
    best = rows.mean(axis=0).max(axis=-1)
    return float(np.mean(best))


def _verdict(value: float | None, interval: tuple[float, float] | None, photos: int) -> str | None:
    if value is None or interval is None:
        return None
    if photos < SANITY_MIN_PHOTOS:
        return "too few"
    low, high = interval
    return "pass" if high < SANITY_THRESHOLD else "fail" if low >= SANITY_THRESHOLD else "unclear"


def _row(name: str, subset: str, method: str, loc: str, maps: Sequence[Record], boxes: Sequence[Record],
         timings: Mapping[Key, float] | None) -> Row:
    from attribkit.metrics import bootstrap_interval

    plain = [r for r in maps if r["kind"] == "map"]
    values = photo_values(maps, boxes)
    means = {k: _mean(list(v.values())) for k, v in values.items()}
    intervals = {k: bootstrap_interval(list(v.values())) for k, v in values.items() if v}
    curves = np.array([r["box_acc"] for r in plain if "box_acc" in r], dtype=np.float64)
    tables = np.array([r["box_acc_v2"] for r in plain if "box_acc_v2" in r], dtype=np.float64)
    # MaxBoxAcc takes the best threshold for the whole dataset, not per photo: mean first, then max.
    box_acc = _max_mean(curves) if len(curves) else None
    box_acc_v2 = _max_mean(tables) if len(tables) else None
    if len(curves):
        intervals["max_box_acc"] = bootstrap_interval(curves, statistic=_max_mean)
    if len(tables):
        intervals["max_box_acc_v2"] = bootstrap_interval(tables, statistic=_max_mean)
    ms = None
    if timings is not None:
        per_photo = []
        for r in plain:
            cost = timings.get(("map", r["image"], method, ""))
            if loc != "-":
                cut = timings.get(("box", r["image"], method, loc))
                cost = None if cost is None or cut is None else cost + cut
            if cost is not None:
                per_photo.append(cost)
        ms = _mean(per_photo)
    return Row(
        method, loc, len(plain), means["deletion_auc"], means["insertion_auc"], means["pointing"], box_acc,
        means["loc_accuracy"], means["mean_iou"], _loc_error(boxes, 1), _loc_error(boxes, 5), ms, name, subset,
        box_acc_v2, means["road_morf"], means["road_lerf"], means["randomisation"],
        _verdict(means["randomisation"], intervals.get("randomisation"), len(values["randomisation"])), intervals,
        values, fallback_count(boxes),
    )


def fallback_count(boxes: Sequence[Record]) -> int | None:
    """How many of a row's box records are a localiser's fallback; ``None`` when none records it (records
    written before the ``fallback`` field are read, and not counted either way)."""
    known = [r for r in boxes if "fallback" in r]
    return sum(1 for r in known if r["fallback"]) if known else None


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def with_interval(value: object, interval: tuple[float, float] | None, *, percent: bool = False) -> str:
    """``0.512 [0.470, 0.551]`` (or ``51.2 [47.0, 55.1]`` with ``percent``); ``n/a`` for ``None``, the value
    alone without an interval, and text as it is."""
    if value is None:
        return "n/a"
    if not isinstance(value, float):
        return str(value)
    text = (lambda v: f"{100 * v:.1f}") if percent else (lambda v: f"{v:.3f}")
    return text(value) if interval is None else f"{text(value)} [{text(interval[0])}, {text(interval[1])}]"


def cell_with_interval(row: Row, column: str) -> str:
    """A table cell: the row's ``column`` and its interval (:func:`with_interval`); ``-`` for a map metric
    on a blind localiser's row (the centre box ignores the map: those numbers are the map's, not its own)."""
    if not own_cell(row.localiser, column):
        return "-"
    return with_interval(getattr(row, column), row.intervals.get(column))


def shown_columns(rows: Sequence[Row]) -> list[str]:
    """The columns with a value in some row (a study without ROAD has no ROAD column to read)."""
    return [c for c in COLUMNS if c in ("method", "localiser", "images")
            or any(getattr(r, c) is not None for r in rows)]


def to_csv(rows: Sequence[Row]) -> str:
    """The study's table as CSV: every column of :data:`COLUMNS`, and ``<column>_low``/``<column>_high`` (the
    95% bootstrap interval) after each of :data:`INTERVAL_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header: list[str] = []
    for c in COLUMNS:
        header += [c, f"{c}_low", f"{c}_high"] if c in INTERVAL_COLUMNS else [c]
    writer.writerow(header)
    for row in rows:
        cells: list[str] = []
        for c in COLUMNS:
            cells.append(_cell(getattr(row, c)))
            if c in INTERVAL_COLUMNS:
                cells += [_cell(v) for v in row.intervals.get(c, (None, None))]
        writer.writerow(cells)
    return buffer.getvalue()


def to_markdown(rows: Sequence[Row]) -> str:
    """The study's table as Markdown (mean [95% interval]), with a footnote per column shown."""
    columns = shown_columns(rows)
    cells = [[cell_with_interval(row, c) for c in columns] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(columns, *cells)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    notes = "\n".join(f"- `{k}`: {COLUMNS[k]}" for k in columns)
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *map(line, cells), "", "Brackets: 95% bootstrap interval, photos resampled.", "", notes, ""])


@dataclass(frozen=True)
class Versus:
    """One row (or method) against the best on the photos both have."""

    label: str
    value: float
    difference: Any
    """:class:`~attribkit.metrics.PairedDifference` of this row minus the best (``None``: under 2 photos in
    common)."""
    tie: bool
    """Not distinguishable from the best (the interval holds 0, or p >= 0.05)."""


@dataclass(frozen=True)
class Comparison:
    """One metric's paired comparison (:func:`compare`)."""

    metric: str
    higher: bool
    best: str
    """The best contender's label (a method, or ``method + localiser`` for the box metrics)."""
    value: float
    others: list[Versus]
    baselines: list[Versus]
    """Baselines (:func:`~attribkit.study._labels.baseline_of`) against the best: never the best themselves."""


def compare(rows: Sequence[Row]) -> list[Comparison]:
    """Per metric of :data:`PER_PHOTO`, the best contender and every other row against it.

    Each row is compared with the best on the photos both have, by :func:`attribkit.metrics.paired_difference`
    (paired bootstrap interval of the mean difference; McNemar or Wilcoxon p); it differs from the best when
    the interval excludes 0 and p < 0.05. Map metrics compare methods (one row per method; a blind
    localiser's row is left out, the map is not its own); the box metrics compare method × localiser rows.
    Baselines (a blind localiser, a random map) are compared with the best but are never the best: a
    centred box that beats every method says the methods fail, not that it is the method to use.
    """
    from attribkit.metrics import paired_difference

    found = []
    for metric, higher in PER_PHOTO.items():
        if metric == "randomisation":
            continue  # a verdict per method against a threshold, not a ranking (the `sanity` column)
        per_method = metric not in ("loc_accuracy", "mean_iou")
        seen: dict[str, Row] = {}
        for row in rows:
            if row.per_photo.get(metric) and own_cell(row.localiser, metric):
                seen.setdefault(row.method if per_method else f"{row.method} + {row.localiser}", row)
        contenders = {k: r for k, r in seen.items()
                      if baseline_of(r.method, "-" if per_method else r.localiser) is None}
        if len(seen) < 2 or not contenders:
            continue
        sign = 1.0 if higher else -1.0
        best_label, best = max(contenders.items(), key=lambda kv: sign * float(getattr(kv[1], metric)))
        others, baselines = [], []
        for label, row in seen.items():
            if label == best_label:
                continue
            common = sorted(set(row.per_photo[metric]) & set(best.per_photo[metric]))
            diff = None
            if len(common) >= 2:
                diff = paired_difference([row.per_photo[metric][i] for i in common],
                                         [best.per_photo[metric][i] for i in common])
            # Both must agree: with tens of photos the percentile interval alone is too narrow (6 photos
            # that all move one way exclude 0, while Wilcoxon's p is at best 0.03).
            tie = diff is not None and not (diff.distinguishable and diff.p_value < 0.05)
            versus = Versus(label, float(getattr(row, metric)), diff, tie)
            (others if label in contenders else baselines).append(versus)
        found.append(Comparison(metric, higher, best_label, float(getattr(best, metric)), others, baselines))
    return found


def others_text(c: Comparison, ties: Sequence[str], differ: Sequence[str] = ()) -> str:
    """What the other contenders are against the best: ``ties`` (not distinguishable) and ``differ``
    (distinguishable), each already formatted with its numbers."""
    if not c.others:
        return "no other contender"
    if ties and differ:
        return f"not distinguishable from it: {', '.join(ties)}; differs from it: {', '.join(differ)}"
    if ties:
        return f"not distinguishable from it: {', '.join(ties)}"
    text = "every other row differs from it (95% paired interval excludes 0 and p < 0.05)"
    return text + (": " + ", ".join(differ) if differ else "")


def beats(c: Comparison, v: Versus) -> bool:
    """Whether a baseline is better than the best contender, distinguishably (the methods fail there)."""
    d = v.difference
    return d is not None and not v.tie and (d.mean > 0) == c.higher


def verdict_word(c: Comparison, v: Versus) -> str:
    """A row's verdict against the best in words (the explorer's ≈ / ≠ marks): the same rule as
    :func:`compare`'s ``tie``, so the text and the marks never disagree."""
    if v.difference is None:
        return "not compared (fewer than 2 photos in common)"
    if v.tie:
        return "not distinguishable from it"
    return "beats it" if beats(c, v) else "differs from it"


def comparison_line(c: Comparison, versus: Callable[[Versus], str], code: Callable[[str], str],
                    escape: Callable[[str], str] = str) -> str:
    """One metric's comparison as a sentence: the best, the other contenders split by verdict with their
    numbers, and each baseline with its own verdict (``versus`` formats a row and its numbers, ``code`` a
    name, ``escape`` the plain words: Markdown or HTML)."""
    ties = [versus(v) for v in c.others if v.difference is not None and v.tie]
    differ = [versus(v) for v in c.others if v.difference is not None and not v.tie]
    text = (f"{code(c.metric)} ({'higher' if c.higher else 'lower'} is better): best {code(c.best)} "
            f"{c.value:.3f}; " + others_text(c, ties, differ).replace(
                "(95% paired interval excludes 0 and p < 0.05)", escape("(95% paired interval excludes 0 and p < 0.05)")))
    unpaired = [code(v.label) for v in c.others if v.difference is None]
    if unpaired:
        text += "; not compared (fewer than 2 photos in common): " + ", ".join(unpaired)
    measured = [v for v in c.baselines if v.difference is not None]
    if measured:
        text += "; baselines (never the best), each against it: " + ", ".join(
            f"{versus(v)} {verdict_word(c, v)}" for v in measured)
    return text


def _versus(v: Versus) -> str:
    d = v.difference
    return f"`{v.label}` ({d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}], p={d.p_value:.2g})"


def comparisons(rows: Sequence[Row]) -> str:
    """A Markdown section: per metric, the best contender, the other rows split into those the data cannot
    tell from it and those that differ, and the baselines against it, each with its verdict
    (:func:`compare`); ``""`` when there is nothing to compare."""
    lines = ["- " + comparison_line(c, _versus, lambda t: f"`{t}`") for c in compare(rows)]
    if not lines:
        return ""
    return "\n".join(["", "## Which differences are real", "",
                      "Each row against the best on the same photos: mean difference [95% paired bootstrap "
                      "interval], and the paired test's p (McNemar for right/wrong outcomes, else Wilcoxon); "
                      "a row differs from the best when the interval excludes 0 and p < 0.05. Baselines (a "
                      "blind centred box, a random map) are compared with the best, never named it.",
                      "", *lines, ""])


def skipped_note(skipped: Mapping[str, str]) -> str:
    """A Markdown note under a table: the photos left out and why (``""`` when none was)."""
    if not skipped:
        return ""
    lines = [f"- `{name}`: {why}" for name, why in skipped.items()]
    return "\n".join(["", f"**{len(skipped)} photo(s) skipped** (not in the table):", *lines, ""])
