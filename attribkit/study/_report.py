"""The study's outputs beside the records: table (CSV, Markdown), plots, and a static HTML page."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attribkit.study._gallery import GALLERY_DIR, gallery_path
from attribkit.study._records import Record
from attribkit.study._summary import COLUMNS, Row, skipped_note, to_csv, to_markdown


def plot_metrics(path: Path, rows: Sequence[Row]) -> Path:
    """Bars of each metric for each method (× localiser for the localisation metrics)."""
    from matplotlib.figure import Figure

    panels = [("deletion_auc", "deletion AUC (lower is better)", True),
              ("insertion_auc", "insertion AUC (higher is better)", True),
              ("pointing", "pointing game", True),
              ("max_box_acc", "MaxBoxAcc", True),
              ("loc_accuracy", "localisation accuracy (IoU >= 0.5)", False)]
    fig = Figure(figsize=(4 * len(panels), 4))
    for ax, (column, title, per_method) in zip(fig.subplots(1, len(panels)), panels):
        shown: dict[str, float] = {}
        for row in rows:
            label = row.method if per_method else f"{row.method}\n{row.localiser}"
            value = getattr(row, column)
            if value is not None:
                shown.setdefault(label, value)
        ax.bar(range(len(shown)), list(shown.values()), color="#4c72b0")
        ax.set_xticks(range(len(shown)), list(shown), rotation=60, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        if not shown:
            ax.set_yticks([])
            ax.text(0.5, 0.5, "no data (no ground-truth boxes or no localiser)", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_curves(path: Path, records: Sequence[Record]) -> Path:
    """Mean deletion and insertion curves per method (the areas the table reports)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, curve, title in ((axes[0], "deletion", "deletion"), (axes[1], "insertion", "insertion")):
        by_method: dict[str, list[Record]] = {}
        for r in records:
            if r["kind"] == "map" and r.get(f"{curve}_curve"):
                by_method.setdefault(r["method"], []).append(r)
        for method, mine in by_method.items():
            scores = np.mean([r[f"{curve}_curve"] for r in mine], axis=0)
            ax.plot(mine[0]["fractions"], scores, label=f"{method} ({np.mean([r[f'{curve}_auc'] for r in mine]):.3f})")
        ax.set_xlabel(f"fraction of pixels {'deleted' if curve == 'deletion' else 'inserted'}")
        ax.set_ylabel("class probability")
        ax.set_title(f"{title} curves (mean over photos; AUC in legend)", fontsize=10)
        if by_method:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


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
) -> Path:
    """A self-contained static page (no scripts, no network assets) linking the plots and gallery PNGs."""
    out = path.parent
    maps = {(r["image"], r["method"]): r for r in records if r["kind"] == "map"}
    boxes = {(r["image"], r["method"], r["localiser"]): r for r in records if r["kind"] == "box"}
    head = "".join(f"<th title='{html.escape(v)}'>{html.escape(k)}</th>" for k, v in COLUMNS.items())
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_metric(getattr(row, c)))}</td>" for c in COLUMNS) + "</tr>"
        for row in rows
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:2em;color:#222} table{border-collapse:collapse}",
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#eee}",
        "figure{display:inline-block;margin:4px;vertical-align:top;text-align:center}",
        "figure img{max-width:200px;max-height:160px} figcaption{font-size:11px;max-width:200px}",
        ".photo{border-top:1px solid #ddd;padding:8px 0} .missing{width:160px;color:#999}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>" + ", ".join(f"{html.escape(k)}: <code>{html.escape(str(v))}</code>" for k, v in settings.items()) + "</p>",
        f"<h2>Results</h2><table><tr>{head}</tr>{body}</table>",
        *([f"<h3>{len(skipped)} photo(s) skipped (not in the table)</h3><ul>"]
          + [f"<li><code>{html.escape(n)}</code>: {html.escape(why)}</li>" for n, why in skipped.items()]
          + ["</ul>"] if skipped else []),
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
                parts.append(_img(out, gallery_path(out, image, method, loc), cap))
            parts.append("<br>")
        parts.append("</div>")
    parts.append("</body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")
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
) -> dict[str, Path]:
    """Write ``results.csv``, ``results.md``, ``metrics.png``, ``curves.png`` and ``index.html``; the
    Markdown table and the page list the ``skipped`` photos (name → why)."""
    files = {"csv": out / "results.csv", "markdown": out / "results.md"}
    files["csv"].write_text(to_csv(rows), encoding="utf-8")
    files["markdown"].write_text(to_markdown(rows) + skipped_note(skipped or {}), encoding="utf-8")
    files["metrics_plot"] = plot_metrics(out / "metrics.png", rows)
    files["curves_plot"] = plot_curves(out / "curves.png", records)
    shown = [i for i in images if (out / GALLERY_DIR).is_dir() and gallery_path(out, i, "photo").is_file()]
    files["html"] = write_html(out / "index.html", title="attribkit study", rows=rows, records=records,
                               images=shown, methods=methods, localisers=localisers,
                               plots=[files["metrics_plot"], files["curves_plot"]], settings=settings,
                               skipped=skipped)
    return files
