"""The evaluation table: its header, notes and cells, shared by ``metrics.md`` and a notebook's picture of an
:class:`~attribkit.study.Evaluation` (one module, so that neither imports the other)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attribkit.metrics import PairedDifference
from attribkit.study._summary import Row, with_interval


@dataclass(frozen=True)
class Uncertainty:
    """A setting's GT-known accuracy on all photos: its interval, and its difference from the baseline."""

    low: float
    high: float
    vs_baseline: PairedDifference | None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _pct_interval(row: Row, column: str) -> str:
    """``66.7 [62.1, 71.0]``: a percentage and its 95% bootstrap interval (``n/a`` when not measured)."""
    return with_interval(getattr(row, column), row.intervals.get(column), percent=True)


#: The evaluation table's header (``metrics.md``, and a notebook's picture of an :class:`Evaluation`).
TABLE_HEAD = ("setting", "photos", "subset", "GT-known acc [95% CI]", "vs centre box [95% CI]", "top-1 loc err",
              "top-5 loc err", "MaxBoxAcc [95% CI]", "MaxBoxAccV2 [95% CI]", "pointing [95% CI]", "ms/photo",
              "fallbacks")

#: What the evaluation table's numbers mean (under ``metrics.md``'s table, and under a notebook's).
TABLE_NOTES = ("GT-known: the true class's box has IoU >= 0.5 with one of its ground-truth boxes. Intervals: "
               "bootstrap over photos (percentile, 2000 resamples); vs centre box: paired difference on the same "
               "photos. MaxBoxAccV2: Choe et al. 2020 (every contour's box, mean over IoU 0.3/0.5/0.7). "
               "Fallbacks: photos whose box is the localiser's documented fallback (flat map, no seeds, empty "
               "cut) rather than a localisation.")


def table_cells(rows: Sequence[Row], spread: dict[str, Uncertainty] | None = None) -> list[list[str]]:
    """The cells of the evaluation table, one list per row in :data:`TABLE_HEAD`'s order (percentages for
    accuracies and errors; 95% bootstrap intervals in brackets)."""
    spread = spread or {}
    cells = []
    for r in rows:
        ms = "n/a" if r.ms_per_photo is None else f"{r.ms_per_photo:.0f}"
        u = spread.get(r.setting) if r.subset == "all" else None
        acc = with_interval(r.loc_accuracy, None if u is None else (u.low, u.high), percent=True)
        vs = ""
        if u is not None and u.vs_baseline is not None:
            d = u.vs_baseline
            vs = f"{100 * d.mean:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
        cells.append([r.setting, str(r.images), r.subset, acc, vs, _pct(r.top1_error), _pct(r.top5_error),
                      _pct_interval(r, "max_box_acc"), _pct_interval(r, "max_box_acc_v2"),
                      _pct_interval(r, "pointing"), ms, "n/a" if r.fallbacks is None else str(r.fallbacks)])
    return cells


def markdown(rows: Sequence[Row], spread: dict[str, Uncertainty] | None = None) -> str:
    """A Markdown table (percentages for accuracies and errors; 95% bootstrap intervals in brackets)."""
    lines = ["| " + " | ".join(TABLE_HEAD) + " |", "|" + "---|" * len(TABLE_HEAD)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_cells(rows, spread)]
    return "\n".join(lines) + "\n\n" + TABLE_NOTES + "\n"
