"""``run_study``: a list of settings (or every method × localiser) over a dataset, resumable, batched,
overlapped and shardable.

Maps are computed a batch of photos at a time (:mod:`attribkit.study._compute`) and localisers run in
worker processes beside them. Every finished result is appended to ``records/part-<rank>.jsonl`` at once
(see :mod:`attribkit.study._records`), so a study stopped by Ctrl-C or ``kill -9`` resumes where it
stopped. Tables are computed from the records alone (:mod:`attribkit.study._summary`), so they are the same
after any interruption and for any number of ``torchrun`` processes. ``attribkit evaluate`` is a report
over the same records (:mod:`attribkit.study._evaluate`).

The settings that decide a record are stored in ``study.json`` and checked when a study is resumed
(:mod:`attribkit.study._manifest`). Photos that cannot be used are skipped and reported
(:attr:`StudyResult.skipped`, the tables' notes); the others are computed.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from attribkit._core.guards import model_device
from attribkit._core.registry import get_registry
from attribkit.attribution import create_attributor
from attribkit.errors import AttribkitWarning, OptionError
from attribkit.models._info import model_info
from attribkit.study._atomic import remove_stale, write_text
from attribkit.study._checks import check_settings
from attribkit.study._compute import BoxPlan, MapPlan, Plan, compute, record_keys
from attribkit.study._data import DataSpec, StudyImage, class_of, study_images
from attribkit.study._distributed import Shard, current_shard
from attribkit.study._gallery import GALLERY_DIR
from attribkit.study._labels import describe
from attribkit.study._manifest import check_and_store, manifest
from attribkit.study._records import Key, Record, read_keys_and_outdated, read_records, record_key
from attribkit.study._report import write_report
from attribkit.study._precision import check_precision
from attribkit.study._run import StudyRun
from attribkit.study._settings import ResolvedSetting, Setting, cross_settings
from attribkit.study._sizing import first_size
from attribkit.study._spec import read_spec, rows_of, study_spec, write_spec
from attribkit.study._summary import Row, summarise
from attribkit.study._thumbnails import THUMBNAIL_DIR
from attribkit.study._workers import localiser_spec


@dataclass(frozen=True, repr=False)
class StudyResult:
    """What a finished study wrote (on rank 0 of a sharded run)."""

    out: Path
    rows: list[Row]
    records: list[Record]
    files: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Photos that could not be used (unreadable, or a box outside the photo): name → why."""

    def __repr__(self) -> str:
        """One line: counts, never the records (a study holds thousands)."""
        return (f"{type(self).__name__}(out={str(self.out)!r}, rows={len(self.rows)}, records={len(self.records)}, "
                f"files={sorted(self.files)}, skipped={len(self.skipped)})")

    def _repr_html_(self) -> str:
        """A notebook's picture: the table with its intervals, which differences are real, the metrics plot."""
        from attribkit.study._display import study_html

        return study_html(self.out, self.rows, self.skipped)

    def _repr_png_(self) -> bytes | None:
        """The metrics plot (``metrics.png``'s bars with 95% intervals), small; ``None`` without rows."""
        from attribkit.study._display import metrics_png

        return metrics_png(self.rows) if self.rows else None


@dataclass(frozen=True)
class Computed:
    """Every record of a study, and the photos skipped (name → why)."""

    records: list[Record]
    skipped: dict[str, str]


def choose_settings(
    methods: Sequence[str],
    localisers: Sequence[str],
    settings: Sequence[Setting] | Setting | None,
    method_options: Mapping[str, Mapping[str, Any]] | None,
    localiser_options: Mapping[str, Mapping[str, Any]] | None,
) -> list[Setting]:
    """``settings`` (a :class:`~attribkit.Recipe` alone is a list of one), or every method × localiser;
    ``ValueError`` for neither or both, :class:`~attribkit.errors.OptionError` for a recipe holding an
    attributor or localiser object (records are keyed by registered names)."""
    if settings is not None:
        if methods or localisers or method_options or localiser_options:
            raise OptionError("give settings, or methods and localisers (with their options), not both")
        settings = [settings] if isinstance(settings, Setting) else list(settings)
        for s in settings:
            if not isinstance(s.attributor, str) or not isinstance(s.localiser, (str, type(None))):
                raise OptionError(f"setting {s.name!r}: a study needs registered attributor and localiser "
                                  "names, not objects (its records are keyed by them)")
        if not settings:
            raise OptionError("a study needs at least one setting")
        names = [s.name for s in settings]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise OptionError(f"setting names must be unique (they name the rows): {', '.join(clashes)}")
        return settings
    if not methods:
        raise OptionError("a study needs at least one method")
    return cross_settings(methods, localisers, method_options=method_options, localiser_options=localiser_options)


def setting_labels(settings: Sequence[Setting]) -> dict[tuple[str, str], str]:
    """A row's (map label, localiser label or ``"-"``) → the settings that made it
    (:func:`~attribkit.study._labels.describe`)."""
    out: dict[tuple[str, str], str] = {}
    for s in settings:
        r = s.resolve()
        out.setdefault((r.map_label, r.localiser_label or "-"), describe(r))
    return out


def make_plan(model: torch.nn.Module, settings: Sequence[Setting], *, top_k: int, batch: int) -> Plan:
    """Build each distinct attributor and check each localiser's options, here rather than in a worker.

    Raises :class:`~attribkit.UnknownMethodError` for an unknown name, ``TypeError`` (an
    :class:`~attribkit.errors.OptionError`) for an option a method does not take, ``ValueError`` for a
    map shared by settings that build its attributor differently.

    Each map's attributor is the registered method wrapped in its averaging (10-crop, SmoothGrad,
    VarGrad, scales: :func:`attribkit.attribution.create_attributor`), so every option works with every
    method.
    """
    if top_k < 0 or batch < 1:
        raise OptionError(f"top_k must be >= 0 and map_batch >= 1; got {top_k}, {batch}")
    registry = get_registry()
    # Every name, option and range is checked here, once, before any model work (Recipe.resolve: it
    # builds each localiser too, so a bad option fails in this process rather than in a worker).
    resolved: list[ResolvedSetting] = [s.resolve() for s in settings]
    maps: dict[str, MapPlan] = {}
    built: dict[str, tuple[str, dict[str, Any]]] = {}
    boxes: dict[tuple[str, str], BoxPlan] = {}
    for r in resolved:
        recipe = (r.setting.attributor, dict(r.attributor_options))
        if r.map_label in built and built[r.map_label] != recipe:
            raise OptionError(f"settings build map {r.map_label!r} with different attributor options: "
                             f"{built[r.map_label][1]} and {recipe[1]}")
        if r.map_label not in maps:
            factory = partial(_attributor_for, r.setting.attributor, {**r.map_options, **r.attributor_options})
            maps[r.map_label] = MapPlan(r.map_label, factory(model), factory)
            built[r.map_label] = recipe
        if r.setting.localiser is None or r.localiser_label is None:
            continue
        registration = registry.get("localiser", r.setting.localiser)
        key = (r.map_label, r.localiser_label)
        spec = localiser_spec(r.setting.localiser, registration.factory, r.localiser_options)
        if key in boxes and boxes[key].spec[2] != spec[2]:
            raise OptionError(f"localiser label {r.localiser_label!r} names two option sets")
        boxes.setdefault(key, BoxPlan(r.map_label, r.localiser_label, spec))
    return Plan(maps, list(boxes.values()), top_k, batch)


def _attributor_for(name: str, options: Mapping[str, Any], model: torch.nn.Module) -> Any:
    """``create_attributor`` with the model last, so a ``partial`` of the rest builds it for any model."""
    return create_attributor(name, model, **options)


#: Per rank, the photos this run could not use: ``skipped/part-<rank>.json`` (name → why).
SKIPPED_DIR = "skipped"


def check_counts(**counts: tuple[int, int]) -> None:
    """``ValueError`` naming every count below its minimum: ``check_counts(steps=(steps, 0), ...)``."""
    bad = [f"{name} must be >= {low}; got {value!r}" for name, (value, low) in counts.items()
           if isinstance(value, bool) or not isinstance(value, int) or value < low]
    if bad:
        raise OptionError("; ".join(bad))


def _skipped(out: Path, items: Sequence[StudyImage], plan: Plan, records: Sequence[Record]) -> dict[str, str]:
    """Photos reported skipped by any rank's latest run that still lack records, in the data's order."""
    told: dict[str, str] = {}
    for path in sorted((out / SKIPPED_DIR).glob("part-*.json")):
        try:
            told.update(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue  # a report only: what is still missing is reported as not computed
    have = {record_key(r) for r in records}
    return {i.name: told.get(i.name, "not computed") for i in items
            if i.name in told and not record_keys(i.name, plan) <= have}


def compute_records(run: StudyRun, items: Sequence[StudyImage], settings: Sequence[Setting], *,
                    spec_of: Callable[[Plan, Shard], dict[str, Any]] | None = None) -> Computed | None:
    """Compute this process's share of the records; every record on rank 0 (``None`` on other ranks), this
    shard's records for a shard run alone (``run.shard``).

    ``spec_of(plan, shard)`` gives the study's ``report.json`` (:mod:`attribkit.study._spec`), written once
    the settings are checked, before any record.

    Raises ``ValueError`` for a negative count (naming it) or an ``out`` that is a file, and
    :class:`~attribkit.errors.OptionError` when ``out`` holds a study computed with other settings.
    """
    check_counts(steps=(run.steps, 0), gallery=(run.gallery, 0), batch_size=(run.batch_size, 1),
                 workers=(run.workers, 0), top_k=(run.top_k, 0), road=(run.road, 0), sanity=(run.sanity, 0),
                 loader_workers=(run.loader_workers, 0))
    check_precision(run.precision)
    out, model = run.out, run.model
    if out.exists() and not out.is_dir():
        raise OptionError(f"out {out} exists and is not a folder")
    # The batch size is fixed by the whole dataset, not by a shard or by what a resumed run has left:
    # every run of the study sees the same shapes (see attribkit.study._batches).
    # ``auto`` starts with the device's size (attribkit.study._sizing); a number is checked there too.
    plan = make_plan(model, settings, top_k=run.top_k, batch=first_size(run.map_batch, model_device(model), len(items)))
    checks = check_settings(model, road=run.road, sanity=run.sanity)
    # The checks go to the first photos in the data's order, whichever shard computes them.
    plan = replace(plan, road=frozenset(i.name for i in items[:run.road]),
                   sanity=frozenset(i.name for i in items[:run.sanity]),
                   sanity_layers=tuple(checks.get("sanity", {}).get("layers", ())),
                   gallery=frozenset(i.name for i in items[:run.gallery]))
    wanted = {**manifest(model, [s.resolve() for s in settings], steps=run.steps, top_k=run.top_k,
                         precision=run.precision), **checks}
    shard = current_shard(run.distributed, run.shard)
    annotations = {i.name: i.annotation for i in items}
    try:
        # Keys only: the records themselves are read again at the end, for the tables (memory stays flat).
        done, outdated = read_keys_and_outdated(out, annotations) if out.is_dir() else (set(), set())
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out, out / GALLERY_DIR, out / SKIPPED_DIR, out / THUMBNAIL_DIR):
            remove_stale(folder)  # what a run killed mid-write left (the pictures are made again if missing)
        check_and_store(out, wanted, has_records=bool(done))
        if spec_of is not None and (shard.rank == 0 or shard.alone):
            write_spec(out, spec_of(plan, shard))
        _warn_outdated(out, outdated)
        skipped = compute(run, plan, items[shard.rank :: shard.world], done, rank=shard.rank)
        _write_skipped(out / SKIPPED_DIR / f"part-{shard.rank}.json", skipped)
        shard.barrier()
        if shard.rank != 0 and not shard.alone:
            return None
        records = read_records(out, annotations)
        return Computed(records, _skipped(out, items, plan, records))
    finally:
        shard.close()


def _warn_outdated(out: Path, outdated: set[Key]) -> None:
    """Say when records on file were computed from other annotations than the photos' current ones (they
    are computed again: :mod:`attribkit.study._records`)."""
    if outdated:
        photos = sorted({k[1] for k in outdated})
        warnings.warn(f"{out}: {len(outdated)} record(s) of {len(photos)} photo(s) ({', '.join(photos[:5])}"
                      f"{', ...' if len(photos) > 5 else ''}) were computed from other annotations (label or boxes "
                      "changed since, or not recorded by an older attribkit): computing them again",
                      AttribkitWarning, stacklevel=3)


def _write_skipped(path: Path, skipped: Mapping[str, str]) -> None:
    if skipped or path.exists():  # an empty list only to replace an older one
        write_text(path, json.dumps(dict(skipped), indent=1) + "\n")


def run_study(
    model: torch.nn.Module,
    data: DataSpec,
    *,
    methods: Sequence[str] = (),
    localisers: Sequence[str] = (),
    settings: Sequence[Setting] | Setting | None = None,
    out: str | Path,
    workers: int = 2,
    steps: int = 16,
    batch_size: int = 64,
    gallery: int = 8,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    localiser_options: Mapping[str, Mapping[str, Any]] | None = None,
    distributed: bool | None = None,
    progress: bool = True,
    top_k: int = 5,
    map_batch: int | str = 8,
    road: int = 0,
    sanity: int = 0,
    loader_workers: int = 0,
    precision: str = "fp32",
    shard: tuple[int, int] | None = None,
) -> StudyResult | None:
    """Run every setting (or every method × localiser) over ``data``; write the table, plots and HTML report.

    Parameters
    ----------
    model
        The classifier (on the device the maps should be computed on).
    data
        Photos: see :func:`attribkit.study.study_images` (``"samples"``, a folder, an annotation file).
    methods, localisers
        Registered attributor and localiser names (``attribkit plugins`` lists them): the settings are
        every method × localiser, with the plain map and the localiser's own defaults.
    settings
        Instead of ``methods`` and ``localisers``: a list of :class:`Setting` (attributor, map options,
        localiser, preset, options), e.g. ``named_settings("standard")``, or one; a setting is a
        :class:`~attribkit.Recipe` (with a name for its row).
    out
        Output folder. If it holds records of an earlier run of the same study, finished results are
        kept and only the missing ones are computed; an earlier run with other settings (model, steps,
        top_k, a method's or localiser's options; see ``study.json``) is refused. More methods or photos
        may be added.
    workers
        Localiser processes running beside the maps (``0``: localise in this process, serially).
    steps
        Steps of the deletion and insertion curves (``0``: no faithfulness metrics).
    batch_size
        Perturbed images per forward pass of the curves.
    gallery
        How many photos (the first ones) get pictures in the HTML gallery.
    method_options, localiser_options
        With ``methods``: per-name keyword options for ``create_attributor`` / ``create_localiser``.
    distributed
        ``None``: shard across ``torchrun`` processes when launched by it; ``False``: never.
    progress
        Show a progress bar.
    top_k
        For photos with ground-truth boxes, also localise the model's top-k classes, so the records give the
        ILSVRC top-1/top-5 localisation errors (``0``: only the annotated class; k + 1 maps per photo
        otherwise, one batched backward).
    map_batch
        Photos per forward pass of the maps (every batch is padded to ``min(map_batch, photos)``, so a
        photo's map does not depend on the others in its batch); a batch that does not fit the device's
        memory raises :class:`~attribkit.errors.OptionError`. ``"auto"``: the largest size that fits,
        found by halving on ``torch.OutOfMemoryError`` and computing the same photos again, nothing
        recorded twice (from 256 on a GPU; 8 on a CPU; :mod:`attribkit.study._sizing`).
    road
        The first ``road`` photos (in the data's order) also get ROAD (Rong et al. 2022): MoRF and LeRF
        curves with noisy linear imputation at 10%..90% removed (:func:`attribkit.metrics.road`; about
        4 s per photo and method on two CPU cores). ``0``: none.
    sanity
        The first ``sanity`` photos also get the cascading model-parameter randomisation test (Adebayo et
        al. 2018) block by block (:func:`attribkit.metrics.model_randomisation`; one map per block). The
        table's ``randomisation`` is the Spearman rank correlation of absolute maps with the trained
        model's, averaged over the cascade, and ``sanity`` says whether it is below 0.5 with 95% confidence. ``0``: none.
    loader_workers
        Processes that read, decode and preprocess the photos ahead of the maps (a
        ``torch.utils.data.DataLoader``; pinned memory on CUDA); ``0``: in this process. The records are
        the same either way (:mod:`attribkit.study._loader`).
    precision
        ``"fp32"`` (default), or ``"bf16"`` / ``"fp16"``: the maps' forward and backward under
        ``torch.autocast`` (the rule engine's rules, the classes' forward and every metric stay float32;
        :mod:`attribkit.study._precision`). Stored in ``study.json``: a study is resumed at its precision.
    shard
        ``(i, n)``: compute only shard ``i`` of ``n`` (photos ``i, i + n, i + 2n, ...`` in the data's order,
        ``0 <= i < n``) into ``out``, alone (no process group: a SLURM array task, a second machine);
        :func:`attribkit.study.merge_studies` then writes the records and the report of all shards,
        equal to one run's. No report is written for a shard. Not under ``torchrun`` (its ranks are the
        shards). ``None``: every photo.

    Returns
    -------
    StudyResult or None
        The table and files, or ``None`` on ranks other than 0 of a sharded run (rank 0 merges). For a
        ``shard``: its own records and rows, and no files. Photos
        that could not be used (unreadable, or a ground-truth box outside the photo) are skipped with a
        warning and listed in :attr:`StudyResult.skipped` and the report.

    Raises
    ------
    UnknownMethodError
        An unknown attributor or localiser (naming close matches).
    OptionError
        An option the method does not take; no method or setting, both, clashing setting names, negative
        counts, ``out`` a file, ``out`` holding a study with other settings (a ``TypeError`` and a
        ``ValueError`` too).
    InputError
        No photos in ``data``, or two with the same name.

    Example
    -------
    >>> run_study(model, "samples", methods=["saliency", "random"], localisers=["threshold"],
    ...           out="study")                                           # doctest: +SKIP
    >>> run_study(model, "boxes.json", settings=named_settings("standard"), out="eval")  # doctest: +SKIP
    """
    chosen = choose_settings(methods, localisers, settings, method_options, localiser_options)
    out = Path(out)
    items = study_images(data, class_index=lambda label: class_of(model, label))
    run = StudyRun(model, out, workers=workers, steps=steps, batch_size=batch_size, gallery=gallery, top_k=top_k,
                   map_batch=map_batch, road=road, sanity=sanity, distributed=distributed, progress=progress,
                   loader_workers=loader_workers, precision=precision, shard=shard)
    if settings is None:
        method_names, loc_names = list(dict.fromkeys(methods)), list(dict.fromkeys(localisers))
        rows: dict[str, Any] = {"methods": method_names, "localisers": loc_names}
    else:
        resolved = [s.resolve() for s in chosen]
        method_names = list(dict.fromkeys(r.map_label for r in resolved))
        loc_names = list(dict.fromkeys(r.localiser_label for r in resolved if r.localiser_label))
        rows = {"settings": [(r.setting.name, r.map_label, r.localiser_label) for r in resolved]}
    name = model_info(model).name

    def spec_of(plan: Plan, where: Shard) -> dict[str, Any]:
        return study_spec(items, plan, rows=rows, method_names=method_names, localiser_names=loc_names,
                          model=name, steps=steps, gallery=gallery,
                          shard=(where.rank, where.world) if where.alone else (0, 1),
                          labels=setting_labels(chosen), class_names=model_info(model).class_names)

    computed = compute_records(run, items, chosen, spec_of=spec_of)
    if computed is None:
        return None
    if shard is not None:  # the report is the merge's (merge_studies)
        return StudyResult(out, study_rows(read_spec(out), computed.records), computed.records, {}, computed.skipped)
    table, files = write_study_report(out, read_spec(out), computed.records, computed.skipped)
    return StudyResult(out, table, computed.records, files, computed.skipped)


def study_rows(spec: Mapping[str, Any], records: Sequence[Record]) -> list[Row]:
    """The study's table from its records and its ``report.json`` (:mod:`attribkit.study._spec`)."""
    labelled = rows_of(spec)
    if labelled is None:
        return summarise(records, methods=spec["rows"]["methods"], localisers=spec["rows"]["localisers"])
    return summarise(records, rows=labelled)


def write_study_report(out: Path, spec: Mapping[str, Any], records: Sequence[Record],
                       skipped: Mapping[str, str]) -> tuple[list[Row], dict[str, Path]]:
    """The table, plots and HTML page of a study from its records and its ``report.json``: the same for one
    run and for a merge of its shards (:func:`attribkit.study.merge_studies`)."""
    rows = study_rows(spec, records)
    # The checks' photos as measured, not as asked: a study resumed with a smaller --road N keeps (and
    # reports) the ROAD records it already has.
    checked = {kind: len({r["image"] for r in records if r["kind"] == kind}) for kind in ("road", "sanity")}
    described = {"model": spec["model"], "photos": len(spec["photos"]), "methods": ",".join(spec["method_names"]),
                 "localisers": ",".join(spec["localiser_names"]) or "-", "curve steps": spec["steps"],
                 "ROAD photos": checked["road"], "sanity-check photos": checked["sanity"]}
    if skipped:
        described["skipped photos"] = len(skipped)
    files = write_report(out, rows, records, images=spec["gallery"], methods=spec["method_names"],
                         localisers=spec["localiser_names"], settings=described, skipped=dict(skipped),
                         labels={(m, loc): text for m, loc, text in spec.get("labels", [])},
                         class_names=spec.get("class_names"),
                         photos=[name for name, _ in spec["photos"]])
    return rows, files
