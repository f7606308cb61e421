"""What a study's results (:class:`StudyResult`, :class:`Evaluation`) show in a notebook: the table with
its 95% intervals, which differences are real, and the metrics plot (``metrics.png``'s bars), small
(:mod:`attribkit.render._notebook`). Setting, method and photo names are users' text: all escaped.
"""

from __future__ import annotations

import html
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from attribkit.render._notebook import DPI, STYLE, data_uri, html_table, png_bytes
from attribkit.study._summary import COLUMNS, Row, cell_with_interval, comparisons, shown_columns

#: Widest metrics plot shown in a notebook, in pixels (four panels side by side).
PLOT_WIDTH = 960


def metrics_png(rows: Sequence[Row]) -> bytes:
    """The study's metrics plot (:func:`attribkit.study._report.plot_metrics`: bars with 95% intervals)
    drawn for a notebook: scaled from its 100 dpi to :data:`~attribkit.render._notebook.DPI`, at most
    :data:`PLOT_WIDTH` pixels wide, palette PNG."""
    from PIL import Image

    from attribkit.study._report import plot_metrics

    with tempfile.TemporaryDirectory() as folder:
        with Image.open(plot_metrics(Path(folder) / "metrics.png", rows)) as img:
            scale = min(DPI / 100, PLOT_WIDTH / img.width)
            small = img.convert("RGB").resize((round(img.width * scale), round(img.height * scale)),
                                              Image.Resampling.LANCZOS)
            return png_bytes(np.asarray(small))


def _markdown_line(line: str) -> str:
    """One Markdown line as HTML: escaped, with ```name``` spans as ``<code>``."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(line))


def _skipped_html(skipped: Mapping[str, str]) -> str:
    if not skipped:
        return ""
    items = "".join(f"<li><code>{html.escape(n)}</code>: {html.escape(why)}</li>" for n, why in skipped.items())
    return f"<p>{len(skipped)} photo(s) skipped (not in the table):</p><ul>{items}</ul>"


def _page(title: str, out: Path, table: str, after: Sequence[str], rows: Sequence[Row]) -> str:
    plot = (f"<img src='{data_uri(metrics_png(rows))}' alt='metrics plot' style='max-width:100%'>"
            if rows else "")
    return (f"{STYLE}<div class='attribkit-result'>"
            f"<div style='font-weight:bold'>{html.escape(title)}</div>"
            f"<div style='color:#444'>written to <code>{html.escape(str(out))}</code></div>"
            f"{table}{''.join(after)}{plot}</div>")


def study_html(out: Path, rows: Sequence[Row], skipped: Mapping[str, str]) -> str:
    """A study's table (hover a column for its meaning), which differences are real, skipped photos and the
    metrics plot, as one HTML block."""
    columns = shown_columns(rows)
    table = html_table(columns, [[cell_with_interval(r, c) for c in columns] for r in rows],
                       titles=[COLUMNS[c] for c in columns])
    compared = [_markdown_line(line[2:]) for line in comparisons(rows).splitlines() if line.startswith("- ")]
    after = ["<p>Brackets: 95% bootstrap interval, photos resampled.</p>"]
    if compared:
        after.append("<p>Which differences are real (each row against the best on the same photos: mean "
                     "difference [95% paired bootstrap interval], paired test's p):</p><ul>"
                     + "".join(f"<li>{line}</li>" for line in compared) + "</ul>")
    after.append(_skipped_html(skipped))
    photos = max((r.images for r in rows), default=0)
    settings = len({(r.method, r.localiser) for r in rows})
    return _page(f"attribkit study: {settings} method × localiser rows, up to {photos} photos", out, table, after,
                 rows)


def evaluation_html(out: Path, rows: Sequence[Row], spread: Mapping[str, object], skipped: Mapping[str, str]) -> str:
    """``attribkit evaluate``'s table (``metrics.md``'s columns and notes), skipped photos and the metrics
    plot of the rows over all photos, as one HTML block."""
    from attribkit.study._evaluate_table import TABLE_HEAD, TABLE_NOTES, table_cells

    table = html_table(TABLE_HEAD, table_cells(rows, dict(spread)))  # type: ignore[arg-type]
    everything = [r for r in rows if r.subset == "all"]
    photos = max((r.images for r in everything), default=0)
    return _page(f"attribkit evaluate: {len(everything)} settings on {photos} photos", out, table,
                 [f"<p>{html.escape(TABLE_NOTES)}</p>", _skipped_html(skipped)], everything)
