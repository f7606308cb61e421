"""``explorer.html``: a study's results as one self-contained interactive page.

The page works from the file system, with no server and no network: its script and style are inlined
(vanilla JavaScript, no library), its data is inlined as JSON, each map is inlined as the small grayscale
PNG its record carries (:mod:`attribkit.study._thumbnails`), and the photos are small JPEGs beside it
(``explorer/``). It shows

- the table, sortable by any column, with each mean's 95% bootstrap interval and the paired test's
  verdict against the best contender (:func:`attribkit.study._summary.compare`); every row labelled with
  the settings that made it (:func:`attribkit.study._labels.describe`), baselines marked as baselines;
- one photo at a time: every method's map with its boxes beside the ground truth, overlays switched on and
  off, and a threshold slider that redraws each map's threshold box (Zhou et al. 2016: the largest
  connected component above a fraction of the map's range) from the map itself;
- filters: class, right or wrong (the model's top class against the label), rows that disagree;
- the deletion, insertion, ROAD and sanity-check curves per method (inline SVG).

Everything from the user (photo, class, method and setting names) reaches the page as JSON strings in a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped, and the script puts them
into the page as text (``textContent``), never as markup.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from attribkit.study._atomic import write_text
from attribkit.study._labels import MAP_COLUMNS, baseline_of, own_cell
from attribkit.study._records import Record
from attribkit.study._summary import INTERVAL_COLUMNS, METRICS, PER_PHOTO, Row, compare, photo_values
from attribkit.study._thumbnails import THUMBNAIL_DIR, photo_thumbnail_path

#: The table's columns, in order, and whether higher is better (``None``: neither).
COLUMNS: dict[str, bool | None] = {
    "images": None, "deletion_auc": False, "insertion_auc": True, "road_morf": False, "road_lerf": True,
    "pointing": True, "max_box_acc": True, "max_box_acc_v2": True, "loc_accuracy": True, "mean_iou": True,
    "top1_error": False, "top5_error": False, "fallbacks": False, "randomisation": False, "sanity": None,
    "ms_per_photo": False,
}
#: The table's column that each curves panel's legend repeats.
PANEL_OF = {"deletion_auc": "deletion", "insertion_auc": "insertion", "road_morf": "road_morf",
            "road_lerf": "road_lerf", "randomisation": "sanity"}
#: A row's key in the page's data: its map and localiser labels.
SEPARATOR = "\u241f"


def _clean(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has neither) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` block: ``<``, ``>``, ``&`` and the JavaScript line separators are
    written as ``\\u`` escapes, so no string can close the block or open a comment (``</script>``,
    ``<!--``); JSON.parse reads them back unchanged."""
    text = json.dumps(_clean(value), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _row_key(method: str, localiser: str) -> str:
    return f"{method}{SEPARATOR}{localiser}"


def _rows(rows: Sequence[Row], labels: Mapping[tuple[str, str], str]) -> list[dict[str, Any]]:
    verdicts: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for c in compare(rows):
        per_method = c.metric in MAP_COLUMNS
        for row in rows:
            label = row.method if per_method else f"{row.method} + {row.localiser}"
            if not own_cell(row.localiser, c.metric) or not row.per_photo.get(c.metric):
                continue
            mine = verdicts.setdefault((row.method, row.localiser), {})
            if label == c.best:
                mine[c.metric] = {"verdict": "best", "text": "best contender on this metric"}
                continue
            versus = next((v for v in [*c.others, *c.baselines] if v.label == label), None)
            if versus is None or versus.difference is None:
                continue
            d = versus.difference
            numbers = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}] vs {c.best}, {d.test} p={d.p_value:.2g}"
            kind = "tie" if versus.tie else "differs"
            text = ("not distinguishable from the best: " if versus.tie else "differs from the best: ") + numbers
            mine[c.metric] = {"verdict": kind, "text": text, "p": d.p_value}
    out = []
    for row in rows:
        if row.subset != "all":
            continue
        key = (row.method, row.localiser)
        cells, intervals = {}, {}
        for column in COLUMNS:
            if not own_cell(row.localiser, column):
                continue  # the blind localiser's row does not repeat the map's numbers
            value = getattr(row, column, None)
            if value is None:
                continue
            cells[column] = value
            if column in INTERVAL_COLUMNS and column in row.intervals:
                intervals[column] = list(row.intervals[column])
        out.append({"key": _row_key(*key), "label": row.setting or (row.method if row.localiser == "-" else
                                                                       f"{row.method} + {row.localiser}"),
                    "method": row.method, "localiser": row.localiser,
                    "settings": labels.get(key, "settings not recorded by this run (records of an earlier run)"),
                    "baseline": baseline_of(row.method, row.localiser),
                    "blind": not own_cell(row.localiser, "pointing"),
                    "cells": cells, "intervals": intervals, "verdicts": verdicts.get(key, {})})
    return out


def _mean(curves: Sequence[Sequence[float]]) -> list[float]:
    return [math.fsum(c[i] for c in curves) / len(curves) for i in range(min(map(len, curves)))]


def _curves(records: Sequence[Record]) -> dict[str, Any]:
    """Per panel, per method: the mean curve over photos, how many photos, and the table's number for it
    (``table``: the mean over photos of each photo's own value, :func:`~attribkit.study._summary.photo_values`,
    so the legend and the table agree; ``None`` where no photo has one)."""
    panels: dict[str, dict[str, Any]] = {}
    grouped: dict[tuple[str, str], tuple[list[float], list[list[float]]]] = {}
    own: dict[tuple[str, str], list[float]] = {}
    layers: list[str] = []
    for r in records:
        if r["kind"] in ("map", "road", "sanity"):
            for metric, by_image in photo_values([r], []).items():
                if r["image"] in by_image and metric in PANEL_OF:
                    own.setdefault((PANEL_OF[metric], r["method"]), []).append(by_image[r["image"]])
        if r["kind"] == "map":
            for curve in ("deletion", "insertion"):
                if r.get(f"{curve}_curve"):
                    grouped.setdefault((curve, r["method"]), (r["fractions"], []))[1].append(r[f"{curve}_curve"])
        elif r["kind"] == "road":
            for order in ("morf", "lerf"):
                grouped.setdefault((f"road_{order}", r["method"]), (r["fractions"], []))[1].append(r[order])
        elif r["kind"] == "sanity":
            layers = list(r["layers"])
            values = [1.0, *(v if isinstance(v, (int, float)) and math.isfinite(v) else None
                             for v in r["spearman_abs"])]
            grouped.setdefault(("sanity", r["method"]), (list(range(len(values))), []))[1].append(values)
    for (panel, method), (xs, curves) in grouped.items():
        if panel == "sanity":  # NaN steps (two constant maps) left out of that step's mean
            ys = []
            for i in range(len(xs)):
                known = [c[i] for c in curves if i < len(c) and c[i] is not None]
                ys.append(math.fsum(known) / len(known) if known else None)
        else:
            ys = _mean(curves)
        table = own.get((panel, method))
        panels.setdefault(panel, {})[method] = {"x": list(xs)[: len(ys)], "y": ys, "photos": len(curves),
                                                "table": math.fsum(table) / len(table) if table else None}
    return {"panels": panels, "layers": ["trained", *layers]}


def explorer_data(
    out: Path,
    *,
    title: str,
    rows: Sequence[Row],
    records: Sequence[Record],
    images: Sequence[str],
    labels: Mapping[tuple[str, str], str],
    class_names: Sequence[str] | None,
    settings: Mapping[str, object],
    skipped: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, list[str | None]]]:
    """The page's data (table, photos, boxes, curves) and, apart, its maps (method → a base64 PNG per photo,
    ``None`` where missing): the maps are parsed by the page only when a photo is first shown.

    ``images`` orders the photos (those without records are left out); ``labels`` maps a row's (map label,
    localiser label) to :func:`~attribkit.study._labels.describe`'s line.
    """
    maps = [r for r in records if r["kind"] == "map"]
    have = {r["image"] for r in maps}
    order = [i for i in dict.fromkeys([*images, *sorted(have)]) if i in have]
    index = {name: i for i, name in enumerate(order)}
    photos: list[dict[str, Any]] = [{"name": name} for name in order]
    methods = list(dict.fromkeys(r.method for r in rows if any(m["method"] == r.method for m in maps)))
    methods += sorted({m["method"] for m in maps} - set(methods))
    thumbs: dict[str, list[str | None]] = {m: [None] * len(order) for m in methods}
    for r in maps:
        p = photos[index[r["image"]]]
        target = r.get("target")
        if "target" not in p and target is not None:
            p["target"] = target
            p["class"] = class_names[target] if class_names and 0 <= target < len(class_names) else f"class {target}"
            if r.get("labelled"):
                predicted = r.get("predicted")
                p["correct"] = predicted == target
                p["predicted"] = (class_names[predicted] if class_names and predicted is not None
                                  and 0 <= predicted < len(class_names) else f"class {predicted}")
        if r.get("truth") and "truth" not in p:
            p["truth"] = r["truth"]
        thumbnail = r.get("thumbnail")
        if isinstance(thumbnail, Mapping) and isinstance(thumbnail.get("png"), str):
            thumbs[r["method"]][index[r["image"]]] = thumbnail["png"]
            p.setdefault("size", thumbnail.get("photo"))
    for p in photos:
        picture = photo_thumbnail_path(out, p["name"])
        p["thumb"] = picture.relative_to(out).as_posix() if picture.is_file() else None
    boxes: dict[str, list[Any]] = {}
    for r in records:
        if r["kind"] == "box" and r["image"] in index:
            entry = boxes.setdefault(_row_key(r["method"], r["localiser"]), [None] * len(order))
            entry[index[r["image"]]] = [r.get("box"), r.get("iou"), r.get("fallback")]
            p = photos[index[r["image"]]]
            if r.get("truth") and "truth" not in p:
                p["truth"] = r["truth"]
    table = _rows(rows, labels)
    columns = [{"key": k, "title": METRICS.get(k, k), "higher": higher, "interval": k in INTERVAL_COLUMNS,
                "paired": k in PER_PHOTO, "map": k in MAP_COLUMNS}
               for k, higher in COLUMNS.items() if any(k in row["cells"] for row in table)]
    data = {
        "title": title, "settings": {k: str(v) for k, v in settings.items()}, "columns": columns, "rows": table,
        "photos": photos, "methods": methods, "boxes": boxes, "curves": _curves(records),
        "skipped": dict(skipped or {}), "thumbnails": THUMBNAIL_DIR,
    }
    return data, thumbs


def _asset(name: str) -> str:
    return resources.files("attribkit.study").joinpath("explorer_assets", name).read_text(encoding="utf-8")


def write_explorer(path: Path, data: Mapping[str, Any], maps: Mapping[str, Sequence[str | None]]) -> Path:
    """Write the page (atomically): the inlined style, script, data and maps."""
    page = "".join([
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        # No network: nothing may be fetched but the page's own thumbnails and inline data.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src 'self' data: file:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>{html.escape(str(data['title']))}</title>\n<style>\n{_asset('explorer.css')}</style></head>\n<body>",
        "<noscript>The explorer needs JavaScript; index.html and results.md hold the same table.</noscript>\n",
        f"<script type='application/json' id='study-data'>{script_json(data)}</script>\n",
        f"<script type='application/json' id='study-maps'>{script_json(maps)}</script>\n",
        f"<script>\n{_asset('explorer.js')}</script>\n</body></html>\n",
    ])
    write_text(path, page)
    return path
