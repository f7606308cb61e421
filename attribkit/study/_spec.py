"""``report.json``: what a study's report is made of besides its records, stored beside them so that
:func:`attribkit.study.merge_studies` writes the report of shard folders without the model or the data.

It holds the photos in the data's order with their annotation digests (which photos a complete study has,
and which records are current: :mod:`attribkit.study._records`), the table's rows and what made each, the
gallery's photos, the photos of the checks, the curve steps, the model's name and class names, and which
shard of how many the folder holds.
What decides a record is in ``study.json`` (:mod:`attribkit.study._manifest`), not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attribkit.errors import OptionError
from attribkit.study._atomic import write_text
from attribkit.study._compute import BoxPlan, MapPlan, Plan
from attribkit.study._data import StudyImage

SPEC = "report.json"
#: Bumped when a field changes meaning; a merge refuses folders of another version.
VERSION = 1


def study_spec(items: Sequence[StudyImage], plan: Plan, *, rows: Mapping[str, Any], method_names: Sequence[str],
               localiser_names: Sequence[str], model: str, steps: int, gallery: int, shard: tuple[int, int],
               labels: Mapping[tuple[str, str], str], class_names: Sequence[str] | None) -> dict[str, Any]:
    """The ``report.json`` of a study (see the module). ``rows`` is ``{"methods": [...], "localisers": [...]}``
    (every method x localiser, as :func:`~attribkit.study.summarise`) or ``{"settings": [[name, map label,
    localiser label or None], ...]}``; ``labels`` and ``class_names`` are the report's
    (:func:`attribkit.study._report.write_report`)."""
    return {
        "version": VERSION, "kind": "study", "model": model, "steps": steps, "shard": list(shard),
        "labels": [[m, loc, text] for (m, loc), text in labels.items()],
        "class_names": None if class_names is None else list(class_names),
        "rows": {k: [list(v) if isinstance(v, (list, tuple)) else v for v in values] for k, values in rows.items()},
        "method_names": list(method_names), "localiser_names": list(localiser_names),
        "gallery": [i.name for i in items[:gallery]],
        "maps": list(plan.maps), "boxes": [[b.map_label, b.label] for b in plan.boxes],
        "road": sorted(plan.road), "sanity": sorted(plan.sanity),
        "photos": [[i.name, i.annotation] for i in items],
    }


def write_spec(out: Path, spec: Mapping[str, Any]) -> None:
    write_text(Path(out) / SPEC, json.dumps(spec, separators=(",", ":")) + "\n")


def read_spec(folder: Path) -> dict[str, Any]:
    """A folder's ``report.json``; :class:`~attribkit.errors.OptionError` naming the folder when it has none
    (not a study, or one written before merges existed) or it is not readable."""
    path = Path(folder) / SPEC
    if not path.is_file():
        raise OptionError(f"{folder}: not a study folder (no {SPEC}; a study written before merges gets one when "
                          "its command runs again, computing only what is missing)")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(spec, dict) or spec.get("version") != VERSION or not isinstance(spec.get("photos"), list):
        raise OptionError(f"{path}: unreadable (not a version-{VERSION} report description)")
    return spec


def spec_plan(spec: Mapping[str, Any]) -> Plan:
    """The keys part of the study's plan (which records each photo gets), for
    :func:`attribkit.study._compute.record_keys`; no attributor or localiser is built."""
    return Plan({label: MapPlan(label, None) for label in spec["maps"]},
                [BoxPlan(m, b, None) for m, b in spec["boxes"]],  # type: ignore[arg-type]
                top_k=0, batch=1, road=frozenset(spec["road"]), sanity=frozenset(spec["sanity"]))


def annotations(spec: Mapping[str, Any]) -> dict[str, str | None]:
    """Photo name → its annotation digest, as :func:`attribkit.study.read_records` takes them."""
    return {name: digest for name, digest in spec["photos"]}


def rows_of(spec: Mapping[str, Any]) -> list[tuple[str, str, str]] | None:
    """The table's rows as ``(name, map label, localiser label or '-')``, or ``None`` for every method x
    localiser."""
    if "settings" not in spec["rows"]:
        return None
    return [(name, method, localiser or "-") for name, method, localiser in spec["rows"]["settings"]]

