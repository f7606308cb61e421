"""The photos of a batch verb: files, folders and globs, and per-photo classes from a ``--targets`` CSV.

A missing item is reported and skipped (the rest of the batch is still done; the verb exits 1); a bad CSV
is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Sequence
from pathlib import Path

from attribkit.cli._common import CommandError

#: A ``--targets`` CSV read: each photo's ``(line number, class)`` rows.
Rows = dict[Path, list[tuple[int, str]]]


def add_photo_args(parser: argparse.ArgumentParser) -> None:
    """The photos of a batch: files, folders and globs, and optionally a CSV of per-photo targets."""
    parser.add_argument("images", nargs="*", metavar="PHOTO",
                        help="image files, folders (their image files, not recursing) or quoted globs "
                             "('photos/**/*.jpg')")
    parser.add_argument("--targets", default=None, metavar="CSV",
                        help="per-photo classes: a CSV with columns photo,target (a row per class; photos "
                             "relative to the CSV's folder); without PHOTO arguments its photos are the batch")


def collect_photos(items: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files, folders and globs → the photo files, in the order given (duplicates once, however spelt:
    ``a.jpg`` and ``sub/../a.jpg`` are one photo, under its first spelling), and one line per item that
    yields none (a missing file, a glob that matches nothing, a folder without images).

    A folder contributes the files directly inside it whose suffix Pillow reads (sorted by name); a glob
    (``*``, ``?``, ``[``; ``**`` recurses) contributes every file it matches, sorted, so a non-image file
    it matches is reported later as unreadable rather than silently dropped.
    """
    from PIL import Image

    readable = {ext.lower() for ext in Image.registered_extensions()}
    photos: dict[Path, Path] = {}  # resolved path → the first spelling given
    problems = []
    for item in items:
        path = Path(item)
        if path.is_file():
            found = [path]
        elif path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in readable and not p.name.startswith("."))
            if not found:
                problems.append(f"{item}: no image files in this folder")
        elif any(c in item for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not found:
                problems.append(f"{item}: no file matches")
        else:
            found = []
            problems.append(f"{item}: no such file")
        for photo in found:
            photos.setdefault(photo.resolve(), photo)
    return list(photos.values()), problems


def photo_names(photos: Sequence[Path]) -> dict[Path, str]:
    """Each photo's part of the output file names: its stem (:func:`~attribkit.render.file_name`), made
    longer only where photos of the batch would share it, so that no two photos write one file.

    A clash (names equal ignoring case: macOS and Windows file systems do) is settled by the file name
    with its extension (``x.jpg``, ``x.png``), then by the folders from the clashing photos' common folder
    (``a_x.jpg``, ``b_x.jpg``), then by 8 hex digits of the resolved path. The same batch always gets the
    same names; a photo's name changes only when a photo sharing its stem joins the batch.

    Example
    -------
    >>> sorted(photo_names([Path("a/x.jpg"), Path("b/x.jpg"), Path("y.png")]).values())
    ['a_x.jpg', 'b_x.jpg', 'y']
    """
    import os

    from attribkit.cli._common import file_name, path_digest

    names = {p: file_name(p.stem) for p in photos}
    longer = (
        lambda p, group: file_name(p.name),
        lambda p, group: file_name("_".join(Path(os.path.relpath(p.absolute(), _common_folder(group))).parts)),
        lambda p, group: f"{names[p]}-{path_digest(p, 8)}",
    )
    for rename in longer:
        for group in _clashes(names):
            names.update({p: rename(p, group) for p in group})
    return names


def _clashes(names: dict[Path, str]) -> list[list[Path]]:
    """Groups of different files whose names would be one file on a case-insensitive file system."""
    groups: dict[str, list[Path]] = {}
    for path, name in names.items():
        groups.setdefault(name.lower(), []).append(path)
    return [g for g in groups.values() if len({p.resolve() for p in g}) > 1]


def _common_folder(paths: list[Path]) -> str:
    import os

    return os.path.commonpath([str(p.absolute().parent) for p in paths])


def read_targets(path: str | Path) -> Rows:
    """A CSV with columns ``photo,target`` → each photo's ``(line, target)`` rows, in file order.

    Photos are relative to the CSV's folder (absolute paths stay). A usage error (exit 2) for an
    unreadable file, missing columns or an empty cell.
    """
    import csv

    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = {c.strip().lower(): c for c in reader.fieldnames or ()}
            if not {"photo", "target"} <= set(columns):
                raise CommandError(f"--targets {path}: needs the columns photo,target; got "
                                   f"{','.join(reader.fieldnames or ()) or 'nothing'}", status=2)
            rows: Rows = {}
            for row in reader:
                photo = (row.get(columns["photo"]) or "").strip()
                target = (row.get(columns["target"]) or "").strip()
                if not photo or not target:
                    raise CommandError(f"--targets {path} line {reader.line_num}: needs a photo and a target",
                                       status=2)
                rows.setdefault(path.parent / photo, []).append((reader.line_num, target))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"--targets {path}: cannot read it ({exc})", status=2) from exc
    return rows


def targets_for(photos: list[Path], table: Rows, csv_name: str, *, strict: bool = True) -> Rows:
    """The CSV's rows keyed by the given photos (matched by resolved path, else by file name); a usage
    error (exit 2) for a row that names none of them (``strict``; else such rows are dropped: their
    photo was reported missing already)."""
    by_path = {p.resolve(): p for p in photos}
    by_name: dict[str, list[Path]] = {}
    for p in photos:
        by_name.setdefault(p.name, []).append(p)
    out: dict[Path, list[tuple[int, str]]] = {}
    for photo, rows in table.items():
        match = by_path.get(photo.resolve())
        if match is None and len(by_name.get(photo.name, [])) == 1:
            match = by_name[photo.name][0]
        if match is None and not strict:
            continue
        if match is None:
            raise CommandError(f"--targets {csv_name} line {rows[0][0]}: {photo.name} is not among the photos "
                               "given", status=2)
        out.setdefault(match, []).extend(rows)
    return out


def batch_from_args(args: argparse.Namespace, verb: str) -> tuple[list[Path], Rows, int]:
    """The photos of ``args`` (PHOTO arguments, else the ``--targets`` CSV's), their CSV rows, and the
    number skipped: each missing item is reported on stderr as ``attribkit VERB: skipping ...``."""
    if args.targets is not None and (getattr(args, "target", None) is not None
                                     or getattr(args, "top_k", None) is not None):
        raise CommandError("--targets gives each photo its classes: not with --target or --top-k", status=2)
    table = read_targets(args.targets) if args.targets is not None else {}
    if not args.images and not table:
        raise CommandError("give photos (files, folders or globs) or --targets CSV", status=2)
    items = list(args.images) or [str(p) for p in table]
    photos, problems = collect_photos(items)
    for line in problems:
        print(f"attribkit {verb}: skipping {line}", file=sys.stderr)
    rows = targets_for(photos, table, args.targets, strict=bool(args.images)) if table else {}
    return photos, rows, len(problems)
