"""``attribkit evaluate``: the WSOL table (GT-known with its bootstrap 95% interval and its paired
difference from the centre box, top-1/top-5 localisation error, MaxBoxAcc and MaxBoxAccV2, pointing game,
ms per photo; all photos and each half) as a report over a study's records.

The records are computed by the study runner (resumable, sharded, maps batched and shared by the settings
that use them); this module only chooses the subsets and formats the table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from attribkit.study._atomic import write_text
from attribkit.study._data import DataSpec, StudyImage, class_of, study_images
from attribkit.study._records import Record, read_timings
from attribkit.study._run import StudyRun
from attribkit.study._explorer import explorer_data, write_explorer
from attribkit.study._runner import choose_settings, compute_records, setting_labels
from attribkit.models._info import model_info
from attribkit.study._settings import Setting
from attribkit.metrics import PairedDifference, bootstrap_interval, paired_difference
from attribkit.study._summary import EVALUATE_COLUMNS, Row, skipped_note, summarise, with_interval

#: The blind baseline every setting is compared with, when the table has it.
BASELINE = "centre box"


@dataclass(frozen=True)
class Uncertainty:
    """A setting's GT-known accuracy on all photos: its interval, and its difference from the baseline."""

    low: float
    high: float
    vs_baseline: PairedDifference | None


def gt_known_hits(records: Sequence[Record], setting: Setting) -> dict[str, float]:
    """Photo name → 1.0 when the setting's box of the true class has IoU >= 0.5 with a ground-truth box."""
    r = setting.resolve()
    return {x["image"]: float((x["iou"] or 0.0) >= 0.5) for x in records
            if x["kind"] == "box" and x["method"] == r.map_label and x["localiser"] == r.localiser_label
            and x["iou"] is not None}


def uncertainties(records: Sequence[Record], settings: Sequence[Setting]) -> dict[str, Uncertainty]:
    """Setting name → :class:`Uncertainty` (settings with boxes only)."""
    hits = {s.name: gt_known_hits(records, s) for s in settings if s.localiser is not None}
    base = hits.get(BASELINE)
    out = {}
    for name, mine in hits.items():
        if not mine:
            continue
        photos = sorted(mine)
        low, high = bootstrap_interval([mine[p] for p in photos])
        vs = None
        if base is not None and name != BASELINE and set(photos) <= set(base):
            vs = paired_difference([mine[p] for p in photos], [base[p] for p in photos])
        out[name] = Uncertainty(low, high, vs)
    return out


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` wrote (on rank 0 of a sharded run)."""

    out: Path
    rows: list[Row]
    records: list[Record]
    images: list[StudyImage]
    settings: list[Setting]
    files: dict[str, Path] = field(default_factory=dict)
    uncertainty: dict[str, Uncertainty] = field(default_factory=dict)
    """Setting name → GT-known interval and paired difference from the centre box (all photos)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Photos that could not be used (unreadable, or a box outside the photo): name → why."""


def halves(names: Sequence[str], *, split: bool = True) -> dict[str, list[str]]:
    """``{"all": names}`` and, for two photos or more, the first and second half (in the data's order)."""
    n = len(names)
    subsets = {"all": list(names)}
    if split and n >= 2:
        subsets[f"1-{n // 2}"] = list(names[: n // 2])
        subsets[f"{n // 2 + 1}-{n}"] = list(names[n // 2 :])
    return subsets


def evaluate(
    model: torch.nn.Module,
    data: DataSpec,
    *,
    settings: Sequence[Setting],
    out: str | Path,
    top_k: int = 5,
    workers: int = 0,
    map_batch: int | str = 8,
    distributed: bool | None = None,
    progress: bool = True,
    loader_workers: int = 0,
    precision: str = "fp32",
) -> Evaluation | None:
    """Compute (or read back) the records of ``settings`` on annotated photos; write ``metrics.csv``,
    ``metrics.md`` and ``explorer.html`` (:mod:`attribkit.study._explorer`).

    Parameters
    ----------
    data
        Annotated photos (a ``boxes.json``, ILSVRC XML files, or :class:`StudyImage` with boxes).
    settings
        The table's settings, e.g. ``named_settings("standard")``.
    out
        Output folder; records of an earlier run are kept and only what is missing is computed.
    top_k, workers, map_batch, distributed, progress, loader_workers, precision
        As :func:`attribkit.study.run_study` (no faithfulness curves, no gallery).

    Returns
    -------
    Evaluation or None
        ``None`` on ranks other than 0 of a sharded run.
    """
    chosen = choose_settings((), (), settings, None, None)
    out = Path(out)
    items = study_images(data, class_index=lambda label: class_of(model, label))
    run = StudyRun(model, out, workers=workers, steps=0, batch_size=1, gallery=0, top_k=top_k, map_batch=map_batch,
                   distributed=distributed, progress=progress, loader_workers=loader_workers,
                   precision=precision)
    computed = compute_records(run, items, chosen)
    if computed is None:
        return None
    records = computed.records
    timings = read_timings(out, {i.name: i.annotation for i in items})
    rows = summarise(records, settings=chosen, subsets=halves([i.name for i in items]), timings=timings)
    spread = uncertainties(records, chosen)
    files = {"csv": out / "metrics.csv", "markdown": out / "metrics.md"}
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow([*EVALUATE_COLUMNS, *UNCERTAINTY_COLUMNS, *TRAILING_COLUMNS])
    for r in rows:
        writer.writerow([getattr(r, c) for c in EVALUATE_COLUMNS.values()]
                        + _uncertainty_cells(spread.get(r.setting) if r.subset == "all" else None)
                        + [getattr(r, c) for c in TRAILING_COLUMNS.values()])
    # Written whole and moved into place (attribkit.study._atomic): a killed run leaves the old tables.
    write_text(files["csv"], table.getvalue())
    write_text(files["markdown"], markdown(rows, spread) + skipped_note(computed.skipped))
    # The same table, sortable, with every photo's maps and boxes (attribkit.study._explorer).
    data, maps = explorer_data(out, title="attribkit evaluate", rows=rows, records=records,
                               images=[i.name for i in items], labels=setting_labels(chosen),
                               class_names=model_info(model).class_names,
                               settings={"model": model_info(model).name, "photos": len(items), "top-k": top_k},
                               skipped=computed.skipped)
    files["explorer"] = write_explorer(out / "explorer.html", data, maps)
    return Evaluation(out, rows, records, items, chosen, files, spread, computed.skipped)


#: Columns after :data:`EVALUATE_COLUMNS` in ``metrics.csv`` (rows of all photos only; empty otherwise).
UNCERTAINTY_COLUMNS = ("gt_known_low", "gt_known_high", "vs_centre", "vs_centre_low", "vs_centre_high",
                       "vs_centre_p")


#: Columns added to ``metrics.csv`` since its first release: last, so that readers by position keep working.
TRAILING_COLUMNS = {"fallbacks": "fallbacks"}


def _uncertainty_cells(u: Uncertainty | None) -> list[object]:
    if u is None:
        return [""] * len(UNCERTAINTY_COLUMNS)
    vs = u.vs_baseline
    return [u.low, u.high, *(("",) * 4 if vs is None else (vs.mean, vs.low, vs.high, vs.p_value))]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _pct_interval(row: Row, column: str) -> str:
    """``66.7 [62.1, 71.0]``: a percentage and its 95% bootstrap interval (``n/a`` when not measured)."""
    return with_interval(getattr(row, column), row.intervals.get(column), percent=True)


def markdown(rows: Sequence[Row], spread: dict[str, Uncertainty] | None = None) -> str:
    """A Markdown table (percentages for accuracies and errors; 95% bootstrap intervals in brackets)."""
    spread = spread or {}
    head = ("setting", "photos", "subset", "GT-known acc [95% CI]", "vs centre box [95% CI]", "top-1 loc err",
            "top-5 loc err", "MaxBoxAcc [95% CI]", "MaxBoxAccV2 [95% CI]", "pointing [95% CI]", "ms/photo",
            "fallbacks")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ms = "n/a" if r.ms_per_photo is None else f"{r.ms_per_photo:.0f}"
        u = spread.get(r.setting) if r.subset == "all" else None
        acc = with_interval(r.loc_accuracy, None if u is None else (u.low, u.high), percent=True)
        vs = ""
        if u is not None and u.vs_baseline is not None:
            d = u.vs_baseline
            vs = f"{100 * d.mean:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
        lines.append(
            f"| {r.setting} | {r.images} | {r.subset} | {acc} | {vs} | {_pct(r.top1_error)} | "
            f"{_pct(r.top5_error)} | {_pct_interval(r, 'max_box_acc')} | {_pct_interval(r, 'max_box_acc_v2')} | "
            f"{_pct_interval(r, 'pointing')} | {ms} | {'n/a' if r.fallbacks is None else r.fallbacks} |"
        )
    notes = ("GT-known: the true class's box has IoU >= 0.5 with one of its ground-truth boxes. Intervals: "
             "bootstrap over photos (percentile, 2000 resamples); vs centre box: paired difference on the same "
             "photos. MaxBoxAccV2: Choe et al. 2020 (every contour's box, mean over IoU 0.3/0.5/0.7). "
             "Fallbacks: photos whose box is the localiser's documented fallback (flat map, no seeds, empty "
             "cut) rather than a localisation.")
    return "\n".join(lines) + "\n\n" + notes + "\n"


@dataclass(frozen=True)
class Example:
    """One photo of a setting shown in the examples: its box of the true class against the truth."""

    setting: Setting
    kind: str
    """``"success"`` or ``"failure"``."""
    image: StudyImage
    record: Record


def examples(evaluation: Evaluation, count: int) -> list[Example]:
    """The ``count`` best and worst photos of each setting by the true class's IoU (ties: data order)."""
    if count <= 0:
        return []
    order = {item.name: i for i, item in enumerate(evaluation.images)}
    by_name = {item.name: item for item in evaluation.images}
    picks = []
    for setting in evaluation.settings:
        r = setting.resolve()
        if r.localiser_label is None:
            continue
        mine = sorted((x for x in evaluation.records if x["kind"] == "box" and x["method"] == r.map_label
                       and x["localiser"] == r.localiser_label), key=lambda x: order[x["image"]])
        ious = [x["iou"] or 0.0 for x in mine]
        ranked = np.argsort(ious, kind="stable")
        picks += [Example(setting, "failure", by_name[mine[i]["image"]], mine[i]) for i in ranked[:count]]
        picks += [Example(setting, "success", by_name[mine[i]["image"]], mine[i]) for i in ranked[::-1][:count]]
    return picks
