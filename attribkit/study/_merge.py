"""``merge_studies``: the records and the report of a study from any set of its shard folders.

A study sharded without a process group (``run_study(..., shard=(i, n))``, ``attribkit study --shard i/n``:
a SLURM array job, several machines) leaves one folder per shard. A merge checks that the folders hold the
same study (``study.json``: model, curve steps, top-k, every method's and localiser's options; and
``report.json``: the photos, rows, gallery and checks), copies their record files, times, skipped lists,
gallery pictures and the explorer's photos into ``out`` byte for byte, and writes the report from the records there, by the code a
single run uses (:func:`attribkit.study._runner.write_study_report`). Records are a function of their key
(:mod:`attribkit.study._batches`), so the merge of shards equals one unsharded run, record for record.
Folders may overlap (a shard run twice, an unsharded run among them): each key's first record is kept.

Photos with no records in any folder (a shard not finished or not given) are reported, by name and by the
shard they belong to, in :attr:`MergeResult.missing`, ``out/missing.txt`` and the report's list of
photos not used; merging again with the missing folders completes the study.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attribkit.errors import AttribkitWarning, OptionError
from attribkit.study._atomic import remove_stale, replacing, write_text
from attribkit.study._compute import record_keys
from attribkit.study._gallery import GALLERY_DIR, complete
from attribkit.study._manifest import MANIFEST, _difference, _text, check_and_store
from attribkit.study._records import RECORDS_DIR, TIMINGS_DIR, Record, read_records, record_files, record_key
from attribkit.study._runner import SKIPPED_DIR, StudyResult, write_study_report
from attribkit.study._spec import annotations, read_spec, spec_plan, write_spec
from attribkit.study._thumbnails import THUMBNAIL_DIR

#: Written to ``out`` when photos have no records: one name a line (removed by a complete merge).
MISSING = "missing.txt"


@dataclass(frozen=True, repr=False)
class MergeResult(StudyResult):
    """What :func:`merge_studies` wrote: a :class:`~attribkit.study.StudyResult` (its one-line repr and notebook
    pictures too; ``skipped``: photos a shard could not use), and the photos no shard has records of."""

    missing: dict[str, str] = field(default_factory=dict)
    """Photos without records in any merged folder, in the data's order: name → its shard (``"2/4"``)."""

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, missing={len(self.missing)})"


def merge_studies(folders: Sequence[str | Path], out: str | Path) -> MergeResult:
    """Merge the folders of a sharded study (:func:`attribkit.study.run_study` with ``shard=(i, n)``, or
    any folders of the same study) into ``out``: its records, then its table, plots and HTML report.

    Parameters
    ----------
    folders
        Study folders with the same settings and photos (shards of one study, in any order and number).
    out
        The merged study's folder (not one of ``folders``). Merging into it again, with more shards,
        completes it; a folder holding another study is refused.

    Returns
    -------
    MergeResult
        The table, the records, the files, and the photos skipped or still missing (also warned about with
        an :class:`~attribkit.errors.AttribkitWarning` naming them and their shards).

    Raises
    ------
    OptionError
        No folder, a folder that is not a study, ``out`` among the folders or a file, or folders (or
        ``out``) whose settings or photos differ: one line naming the folder and the first difference.

    Example
    -------
    >>> for i in range(4):                                                     # doctest: +SKIP
    ...     run_study(model, data, settings=named_settings("standard"), out=f"part{i}", shard=(i, 4))
    >>> merge_studies([f"part{i}" for i in range(4)], "study").missing         # doctest: +SKIP
    {}
    """
    folders = [Path(f) for f in folders]
    out = Path(out)
    if not folders:
        raise OptionError("a merge needs at least one study folder")
    resolved = [f.resolve() for f in folders]
    if out.resolve() in resolved:
        raise OptionError(f"{out}: the merged study goes to a folder of its own, not one of the folders merged")
    if out.exists() and not out.is_dir():
        raise OptionError(f"out {out} exists and is not a folder")
    specs = [read_spec(f) for f in folders]
    settings = [_manifest_of(f) for f in folders]
    for folder, spec, stored in zip(folders[1:], specs[1:], settings[1:]):
        differs = settings_difference(settings[0], stored) or spec_difference(specs[0], spec)
        if differs is not None:
            raise OptionError(f"{folder}: not a shard of the study in {folders[0]}: {folders[0]} has {differs}; "
                              "merge only the shards of one study")
    out.mkdir(parents=True, exist_ok=True)
    for sub in (out, out / RECORDS_DIR, out / TIMINGS_DIR, out / SKIPPED_DIR, out / GALLERY_DIR, out / THUMBNAIL_DIR):
        if sub.is_dir():
            remove_stale(sub)  # what a merge killed mid-copy left
    # A merge into a folder of an earlier merge (more shards finished since) adds to it; another study is refused.
    check_and_store(out, settings[0], has_records=bool(record_files(out)))
    for folder, path in zip(folders, resolved):
        tag = "shard-" + hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()
        for sub, pattern in ((RECORDS_DIR, "*.jsonl"), (TIMINGS_DIR, "*.jsonl"), (SKIPPED_DIR, "*.json")):
            for source in sorted((folder / sub).glob(pattern)):
                _copy(source, out / sub / f"{tag}-{source.name}")
        for source in sorted((folder / GALLERY_DIR).glob("*.png")):
            if complete(source) and not complete(out / GALLERY_DIR / source.name):
                _copy(source, out / GALLERY_DIR / source.name)
        for source in sorted((folder / THUMBNAIL_DIR).glob("*.jpg")):  # the explorer's photos
            if not (out / THUMBNAIL_DIR / source.name).is_file():
                _copy(source, out / THUMBNAIL_DIR / source.name)
    spec = {**specs[0], "shard": [0, 1]}
    write_spec(out, spec)
    records = read_records(out, annotations(spec))
    skipped, missing = _accounted(out, spec, records, [tuple(s["shard"]) for s in specs])
    noted = {**skipped, **{name: f"no records in the merged folders (shard {where} not merged or not finished)"
                           for name, where in missing.items()}}
    rows, files = write_study_report(out, spec, records, noted)
    if missing:
        write_text(out / MISSING, "".join(f"{name}\n" for name in missing))
        files["missing"] = out / MISSING
        shards = sorted(set(missing.values()), key=lambda s: tuple(int(v) for v in s.split("/")))
        warnings.warn(f"{out}: {len(missing)} photo(s) have no records in the merged folders (shard(s) "
                      f"{', '.join(shards[:8])}{', ...' if len(shards) > 8 else ''} not merged or not finished): "
                      f"{', '.join(list(missing)[:5])}{', ...' if len(missing) > 5 else ''} (all in {out / MISSING})",
                      AttribkitWarning, stacklevel=2)
    else:
        (out / MISSING).unlink(missing_ok=True)
    return MergeResult(out, rows, records, files, skipped, missing)


def _manifest_of(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptionError(f"{folder}: not a study folder (no {MANIFEST})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(stored, dict):
        raise OptionError(f"{path}: unreadable (not a JSON object)")
    return stored


def settings_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The first setting (``study.json``) in which two studies differ, in words (``None``: the same)."""
    found = _difference(dict(a), dict(b))
    if found is not None:
        return found
    for group, noun in (("maps", "method"), ("localisers", "localiser")):
        only = sorted(set(a.get(group, {})) ^ set(b.get(group, {})))
        if only:
            return f"{'an extra' if only[0] in a.get(group, {}) else 'no'} {noun} {only[0]!r}"
    for check in ("road", "sanity"):
        if (check in a) != (check in b):
            return f"{'a' if check in a else 'no'} {check} check"
    return None if _text(a) == _text(b) else "other settings in study.json"


def spec_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The first difference in what two folders' reports are made of (``report.json``), in words."""
    if a["photos"] != b["photos"]:
        if len(a["photos"]) != len(b["photos"]):
            return f"{len(a['photos'])} photos, not {len(b['photos'])}"
        first = next(x for x, y in zip(a["photos"], b["photos"]) if x != y)
        return f"photo {first[0]!r} (other photos or annotations)"
    for key, what in (("rows", "rows"), ("gallery", "gallery photos"), ("road", "ROAD photos"),
                      ("sanity", "sanity-check photos"), ("model", "model name")):
        if _text(a.get(key)) != _text(b.get(key)):
            return f"{what} {_text(a.get(key))[:120]}, not {_text(b.get(key))[:120]}"
    return None


def _accounted(out: Path, spec: Mapping[str, Any], records: Sequence[Record],
               shards: Sequence[tuple[int, int]]) -> tuple[dict[str, str], dict[str, str]]:
    """The photos skipped by a shard (name → why) and those with no records at all (name → shard ``"i/n"``,
    for the largest shard count among the folders), in the data's order."""
    told: dict[str, str] = {}
    for path in sorted((out / SKIPPED_DIR).glob("*.json")):
        try:
            told.update(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue  # a report only: what is still missing is reported as missing
    plan = spec_plan(spec)
    have = {record_key(r) for r in records}
    count = max(n for _, n in shards)
    skipped, missing = {}, {}
    for index, (name, _) in enumerate(spec["photos"]):
        if record_keys(name, plan) <= have:
            continue
        if name in told:
            skipped[name] = told[name]
        else:
            missing[name] = f"{index % count}/{count}"
    return skipped, missing


def _copy(source: Path, target: Path) -> None:
    """``source`` to ``target``, atomically (:mod:`attribkit.study._atomic`), streamed: no file is read whole."""
    with replacing(target) as temporary:
        shutil.copyfile(source, temporary)
