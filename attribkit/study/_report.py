"""The study's outputs beside the records: table (CSV, Markdown), plots, and a static HTML page."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from attribkit.study._atomic import replacing, write_text
from attribkit.study._gallery import GALLERY_DIR, gallery_path
from attribkit.study._records import Record
from attribkit.study._explorer import explorer_data, write_explorer
from attribkit.study._labels import baseline_of
from attribkit.study._summary import (COLUMNS, SANITY_THRESHOLD, Comparison, Row, Versus, cell_with_interval,
                                     compare, comparison_line,
                                     comparisons, shown_columns, skipped_note, to_csv, to_markdown)


def _save(fig: object, path: Path) -> None:
    """A figure as a PNG, atomically (:mod:`attribkit.study._atomic`)."""
    with replacing(path) as temporary:
        fig.savefig(temporary, dpi=100, format="png")  # type: ignore[attr-defined]


def plot_metrics(path: Path, rows: Sequence[Row]) -> Path:
    """Bars of each metric for each method (× localiser for the localisation metrics)."""
    from matplotlib.figure import Figure

    panels = [("deletion_auc", "deletion AUC (lower is better)", True),
              ("insertion_auc", "insertion AUC (higher is better)", True),
              ("road_morf", "ROAD MoRF (lower is better)", True),
              ("road_lerf", "ROAD LeRF (higher is better)", True),
              ("pointing", "pointing game", True),
              ("max_box_acc_v2", "MaxBoxAccV2", True),
              ("loc_accuracy", "GT-known localisation (IoU >= 0.5)", False),
              ("randomisation", f"sanity check: similarity over the cascade\n(below {SANITY_THRESHOLD} passes)", True)]
    panels = [p for p in panels if any(getattr(r, p[0]) is not None for r in rows)] or panels[:1]
    columns = min(len(panels), 4)
    fig = Figure(figsize=(4.5 * columns, 4.5 * math.ceil(len(panels) / columns)))
    axes = np.atleast_1d(fig.subplots(math.ceil(len(panels) / columns), columns)).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (column, title, per_method) in zip(axes, panels):
        shown: dict[str, Row] = {}
        for row in rows:
            label = row.method if per_method else f"{row.method}\n{row.localiser}"
            if getattr(row, column) is not None:
                shown.setdefault(label, row)
        values = [getattr(r, column) for r in shown.values()]
        spans = np.array([r.intervals.get(column, (v, v)) for r, v in zip(shown.values(), values)]).reshape(-1, 2)
        error = np.abs(spans.T - np.array(values)) if len(values) else None
        ax.bar(range(len(shown)), values, yerr=error, capsize=2, color="#4c72b0", ecolor="#333")
        ax.set_xticks(range(len(shown)), list(shown), rotation=60, ha="right", fontsize=8)
        if column == "randomisation":
            ax.axhline(SANITY_THRESHOLD, color="#999", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=10)
        if not shown:
            ax.set_yticks([])
            ax.text(0.5, 0.5, "no data (no ground-truth boxes or no localiser)", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)
    fig.suptitle("mean per method; bars: 95% bootstrap interval (photos resampled)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return path


def _colours(n: int) -> list[object]:
    """Distinct line colours for up to 20 methods: tab20's ten dark shades first, then its light ones (its
    own order pairs each dark colour with its light twin, which neighbouring methods then share)."""
    from matplotlib import colormaps

    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return [colormaps["tab20"](order[i % 20]) for i in range(n)]


def plot_curves(path: Path, records: Sequence[Record]) -> Path:
    """Mean deletion, insertion and ROAD curves per method (the areas and means the table reports)."""
    from matplotlib.figure import Figure

    # (title, x label, {method: (fractions, [curves], [the table's per-photo value])})
    panels: list[tuple[str, str, dict[str, tuple[list[float], list[list[float]], list[float]]]]] = []
    for curve, verb in (("deletion", "deleted"), ("insertion", "inserted")):
        by_method: dict[str, tuple[list[float], list[list[float]], list[float]]] = {}
        for r in records:
            if r["kind"] == "map" and r.get(f"{curve}_curve"):
                entry = by_method.setdefault(r["method"], (r["fractions"], [], []))
                entry[1].append(r[f"{curve}_curve"])
                entry[2].append(r[f"{curve}_auc"])
        panels.append((f"{curve} curves (legend: AUC)", f"fraction of pixels {verb}", by_method))
    for order, title in (("morf", "ROAD MoRF: most relevant removed first"),
                         ("lerf", "ROAD LeRF: least relevant removed first")):
        by_method = {}
        for r in records:
            if r["kind"] == "road":
                entry = by_method.setdefault(r["method"], (r["fractions"], [], []))
                entry[1].append(r[order])
                entry[2].append(float(np.mean(r[order])))
        panels.append((f"{title} (legend: mean)", "fraction of pixels removed and imputed", by_method))
    panels = [p for p in panels if p[2]] or panels[:2]
    fig = Figure(figsize=(6 * len(panels), 5))
    for ax, (title, xlabel, by_method) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        for colour, (method, (fractions, curves, summary)) in zip(_colours(len(by_method)), by_method.items()):
            ax.plot(fractions, np.mean(curves, axis=0), color=colour, label=f"{method} ({np.mean(summary):.3f})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("class probability")
        ax.set_title(f"{title}, mean over photos", fontsize=10)
        if by_method:
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    return path


def plot_sanity(path: Path, records: Sequence[Record]) -> Path | None:
    """The cascading randomisation curves: per method, the similarity of its maps to the trained model's
    as blocks are re-drawn from the top (Adebayo et al. 2018, figure 2); ``None`` without sanity records."""
    from matplotlib.figure import Figure

    by_method: dict[str, list[Record]] = {}
    for r in records:
        if r["kind"] == "sanity":
            by_method.setdefault(r["method"], []).append(r)
    if not by_method:
        return None
    layers = next(iter(by_method.values()))[0]["layers"]
    measures = (("spearman_abs", "Spearman rank correlation, absolute maps"),
                ("spearman", "Spearman rank correlation, signed maps"),
                ("ssim", "SSIM"), ("hog", "HOG similarity"))
    fig = Figure(figsize=(20, 5.5))
    axes = fig.subplots(1, len(measures))
    steps = np.arange(len(layers) + 1)
    for ax, (measure, title) in zip(axes, measures):
        for colour, (method, mine) in zip(_colours(len(by_method)), by_method.items()):
            with np.errstate(all="ignore"):
                curve = np.nanmean(np.array([r[measure] for r in mine], dtype=np.float64), axis=0)
            ax.plot(steps, [1.0, *curve], marker="o", markersize=3, color=colour, label=method)
        if measure == "spearman_abs":
            ax.axhline(SANITY_THRESHOLD, color="#999", linestyle="--", linewidth=1)
        ax.set_xticks(steps, ["trained", *layers], rotation=70, ha="right", fontsize=7)
        ax.set_ylim(-0.2, 1.05)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("blocks re-drawn, cumulatively from the logits")
    axes[0].set_ylabel("similarity to the trained model's map")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"Model-parameter randomisation (cascading), mean over {len(next(iter(by_method.values())))} "
                 f"photos: a map that explains the model falls (dashed: the pass threshold {SANITY_THRESHOLD})",
                 fontsize=11)
    fig.tight_layout()
    _save(fig, path)
    return path


def plot_gallery(path: Path, out: Path, images: Sequence[str], methods: Sequence[str], *,
                 rows: int = 4) -> Path | None:
    """One sheet of the gallery: the first ``rows`` photos (ground truth in green), then each method's map
    of the photo's class, a column per method; ``None`` when no gallery picture exists."""
    from PIL import Image

    from attribkit.render import save_panel

    shown = [i for i in images if gallery_path(out, i, "photo").is_file()][:rows]
    if not shown:
        return None
    pictures, titles = [], []
    for r, image in enumerate(shown):
        for column in ["photo", *methods]:
            picture = gallery_path(out, image, column)
            if picture.is_file():
                with Image.open(picture) as img:
                    pictures.append(np.asarray(img.convert("RGB")))
            else:  # not computed (yet): a white tile keeps the columns aligned
                pictures.append(np.full_like(pictures[-1], 255))
            label = f"photo {image[-8:]}" if column == "photo" else column.replace(":", ":\n", 1) if r == 0 else ""
            titles.append(label)
    # A caption, not a suptitle: save_panel wraps it to the sheet's width, however few the methods.
    return save_panel(path, pictures, titles, columns=len(methods) + 1, size=1.5,
                      caption="Each method's map of the annotated class (bright: salient); "
                              "ground-truth boxes in green")


def _img(out: Path, path: Path, caption: str) -> str:
    if not path.is_file():
        return f"<figure class='missing'><figcaption>{html.escape(caption)}: not computed</figcaption></figure>"
    rel = path.relative_to(out).as_posix()
    return (f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}' loading='lazy'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _metric(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _settings_cell(row: Row, labels: Mapping[tuple[str, str], str]) -> str:
    """The settings that made ``row`` (:func:`~attribkit.study._labels.describe`), and why it is a baseline."""
    text = labels.get((row.method, row.localiser), "settings not recorded by this run")
    why = baseline_of(row.method, row.localiser)
    return text if why is None else f"{text} ({why})"


def settings_note(rows: Sequence[Row], labels: Mapping[tuple[str, str], str]) -> str:
    """A Markdown list under the table: each row and the settings that made it (and why it is a baseline):
    two rows named alike may be different computations (:mod:`attribkit.study._labels`)."""
    lines = [f"- `{row.method} + {row.localiser}`: {_settings_cell(row, labels)}" for row in rows]
    return "\n".join(["", "Settings of each row:", "", *lines, ""]) if lines else ""


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def _versus_html(v: Versus) -> str:
    d = v.difference
    return f"{_code(v.label)} ({d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}], p={d.p_value:.2g})"


def _compared_html(c: Comparison) -> str:
    """One metric's comparison as HTML (the Markdown list's line, with code spans as ``<code>``)."""
    return comparison_line(c, _versus_html, _code, html.escape).replace(" beats it", " <strong>beats it</strong>")


def write_html(
    path: Path,
    *,
    title: str,
    rows: Sequence[Row],
    records: Sequence[Record],
    images: Sequence[str],
    methods: Sequence[str],
    localisers: Sequence[str],
    plots: Sequence[Path],
    settings: dict[str, object],
    skipped: dict[str, str] | None = None,
    labels: Mapping[tuple[str, str], str] | None = None,
) -> Path:
    """A self-contained static page (no scripts, no network assets) linking the plots and gallery PNGs."""
    out = path.parent
    maps = {(r["image"], r["method"]): r for r in records if r["kind"] == "map"}
    boxes = {(r["image"], r["method"], r["localiser"]): r for r in records if r["kind"] == "box"}
    columns = shown_columns(rows)
    labels = labels or {}
    head = "".join(f"<th title='{html.escape(COLUMNS[k])}'>{html.escape(k)}</th>" for k in columns)
    head += "<th title='the settings that made the row'>settings</th>"
    body = "".join(
        ("<tr class='baseline'>" if baseline_of(row.method, row.localiser) else "<tr>")
        + "".join(f"<td>{html.escape(cell_with_interval(row, c))}</td>" for c in columns)
        + f"<td class='settings'>{html.escape(_settings_cell(row, labels))}</td></tr>"
        for row in rows
    )
    compared = [_compared_html(c) for c in compare(rows)]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:2em;color:#222} table{border-collapse:collapse}",
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#eee}",
        "td.settings{text-align:left;font-size:11px;color:#555} tr.baseline td{background:#fbf8ec}",
        "figure{display:inline-block;margin:4px;vertical-align:top;text-align:center}",
        "figure img{max-width:200px;max-height:160px} figcaption{font-size:11px;max-width:200px}",
        ".photo{border-top:1px solid #ddd;padding:8px 0} .missing{width:160px;color:#999}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>" + ", ".join(f"{html.escape(k)}: <code>{html.escape(str(v))}</code>" for k, v in settings.items()) + "</p>",
        f"<h2>Results</h2><table><tr>{head}</tr>{body}</table>",
        "<p>Brackets: 95% bootstrap interval, photos resampled. Hover a column's name for its meaning.</p>",
        *(["<h3>Which differences are real</h3><p>Each row against the best on the same photos: mean "
           "difference [95% paired bootstrap interval] and the paired test's p.</p><ul>"]
          + [f"<li>{line}</li>" for line in compared] + ["</ul>"] if compared else []),
        *([f"<h3>{len(skipped)} photo(s) skipped (not in the table)</h3><ul>"]
          + [f"<li><code>{html.escape(n)}</code>: {html.escape(why)}</li>" for n, why in skipped.items()]
          + ["</ul>"] if skipped else []),
        "<p><a href='explorer.html'>explorer.html</a>: the same table sortable, every photo's maps and boxes "
        "with a threshold slider, filters and curves.</p>",
        "<p>Files: <a href='results.csv'>results.csv</a>, <a href='results.md'>results.md</a>, "
        "per-photo records in <code>records/*.jsonl</code>.</p><h2>Plots</h2>",
        *(f"<img src='{html.escape(p.name)}' alt='{html.escape(p.stem)}' style='max-width:100%'><br>" for p in plots),
        "<h2>Gallery</h2><p>Maps on the model's input crop; masks and boxes on the photo: ground truth in "
        "green, the localiser's box in red.</p>",
    ]
    for image in images:
        parts.append(f"<div class='photo'><h3>{html.escape(image)}</h3>")
        parts.append(_img(out, gallery_path(out, image, "photo"), "photo"))
        for method in methods:
            m = maps.get((image, method))
            caption = method if m is None else (
                f"{method}: del {_metric(m.get('deletion_auc'))} ins {_metric(m.get('insertion_auc'))}")
            parts.append(_img(out, gallery_path(out, image, method), caption))
            for loc in localisers:
                b = boxes.get((image, method, loc))
                cap = f"{method} + {loc}" + ("" if b is None or b.get("iou") is None else f": IoU {b['iou']:.2f}")
                if b is not None and b.get("fallback"):
                    cap += f" (fallback: {b['fallback']})"
                parts.append(_img(out, gallery_path(out, image, method, loc), cap))
            parts.append("<br>")
        parts.append("</div>")
    parts.append("</body></html>\n")
    write_text(path, "\n".join(parts))
    return path


def write_report(
    out: Path,
    rows: Sequence[Row],
    records: Sequence[Record],
    *,
    images: Sequence[str],
    methods: Sequence[str],
    localisers: Sequence[str],
    settings: dict[str, object],
    skipped: dict[str, str] | None = None,
    labels: Mapping[tuple[str, str], str] | None = None,
    class_names: Sequence[str] | None = None,
    photos: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``results.csv``, ``results.md``, ``metrics.png``, ``curves.png``, ``sanity.png`` (when the study
    ran the sanity check), ``gallery.png`` (when it has gallery photos), ``index.html`` and ``explorer.html``
    (:mod:`attribkit.study._explorer`); the Markdown table and the pages compare the rows (which differences
    are real) and list the ``skipped`` photos (name → why).

    ``labels`` maps a row's (map label, localiser label) to the settings that made it
    (:func:`~attribkit.study._labels.describe`); ``class_names`` names the photos' classes in the explorer;
    ``photos`` orders the explorer's photos (every photo of the study, in the data's order)."""
    files = {"csv": out / "results.csv", "markdown": out / "results.md"}
    # Written whole and moved into place (attribkit.study._atomic): a killed run leaves the old table.
    write_text(files["csv"], to_csv(rows))
    write_text(files["markdown"], to_markdown(rows) + settings_note(rows, labels or {}) + comparisons(rows)
               + skipped_note(skipped or {}))
    files["metrics_plot"] = plot_metrics(out / "metrics.png", rows)
    files["curves_plot"] = plot_curves(out / "curves.png", records)
    for key, made in (("sanity_plot", plot_sanity(out / "sanity.png", records)),
                      ("gallery_sheet", plot_gallery(out / "gallery.png", out, images, methods))):
        if made is not None:
            files[key] = made
    shown = [i for i in images if (out / GALLERY_DIR).is_dir() and gallery_path(out, i, "photo").is_file()]
    files["html"] = write_html(out / "index.html", title="attribkit study", rows=rows, records=records,
                               images=shown, methods=methods, localisers=localisers,
                               plots=[files[k] for k in ("metrics_plot", "curves_plot", "sanity_plot", "gallery_sheet")
                                      if k in files],
                               settings=settings,
                               skipped=skipped, labels=labels)
    data, maps = explorer_data(out, title="attribkit study", rows=rows, records=records, images=photos or images,
                               labels=labels or {}, class_names=class_names, settings=settings, skipped=skipped)
    files["explorer"] = write_explorer(out / "explorer.html", data, maps)
    return files
