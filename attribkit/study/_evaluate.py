"""``attribkit evaluate``: the localisation table (GT-known, top-1/top-5 localisation error, MaxBoxAcc,
pointing game, ms per photo; all photos and each half) as a report over a study's records.

The records are computed by the study runner (resumable, sharded, maps batched and shared by the settings
that use them); this module only chooses the subsets and formats the table.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from attribkit.study._data import DataSpec, StudyImage, class_of, study_images
from attribkit.study._records import Record, read_timings
from attribkit.study._runner import choose_settings, compute_records
from attribkit.study._settings import Setting
from attribkit.study._summary import EVALUATE_COLUMNS, Row, summarise


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` wrote (on rank 0 of a sharded run)."""

    out: Path
    rows: list[Row]
    records: list[Record]
    images: list[StudyImage]
    settings: list[Setting]
    files: dict[str, Path] = field(default_factory=dict)


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
    map_batch: int = 8,
    distributed: bool | None = None,
    progress: bool = True,
) -> Evaluation | None:
    """Compute (or read back) the records of ``settings`` on annotated photos; write ``metrics.csv`` and
    ``metrics.md``.

    Parameters
    ----------
    data
        Annotated photos (a ``boxes.json``, ILSVRC XML files, or :class:`StudyImage` with boxes).
    settings
        The table's settings, e.g. ``named_settings("standard")``.
    out
        Output folder; records of an earlier run are kept and only what is missing is computed.
    top_k, workers, map_batch, distributed, progress
        As :func:`attribkit.study.run_study` (no faithfulness curves, no gallery).

    Returns
    -------
    Evaluation or None
        ``None`` on ranks other than 0 of a sharded run.
    """
    chosen = choose_settings((), (), settings, None, None)
    out = Path(out)
    items = study_images(data, class_index=lambda label: class_of(model, label))
    records = compute_records(model, items, chosen, out=out, workers=workers, steps=0, batch_size=1, gallery=0,
                              top_k=top_k, map_batch=map_batch, distributed=distributed, progress=progress)
    if records is None:
        return None
    rows = summarise(records, settings=chosen, subsets=halves([i.name for i in items]), timings=read_timings(out))
    files = {"csv": out / "metrics.csv", "markdown": out / "metrics.md"}
    with open(files["csv"], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(EVALUATE_COLUMNS)
        for r in rows:
            writer.writerow([getattr(r, c) for c in EVALUATE_COLUMNS.values()])
    files["markdown"].write_text(markdown(rows))
    return Evaluation(out, rows, records, items, chosen, files)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def markdown(rows: Sequence[Row]) -> str:
    """A Markdown table (percentages for accuracies and errors)."""
    head = ("setting", "photos", "subset", "GT-known acc", "top-1 loc err", "top-5 loc err", "MaxBoxAcc",
            "pointing", "ms/photo")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ms = "n/a" if r.ms_per_photo is None else f"{r.ms_per_photo:.0f}"
        lines.append(
            f"| {r.setting} | {r.images} | {r.subset} | {_pct(r.loc_accuracy)} | {_pct(r.top1_error)} | "
            f"{_pct(r.top5_error)} | {_pct(r.max_box_acc)} | {_pct(r.pointing)} | {ms} |"
        )
    return "\n".join(lines) + "\n"


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
