"""``study.json``: the settings that decide a study's records, stored beside them and checked on resume.

Records are keyed by photo, map label and localiser label (:mod:`attribkit.study._records`), not by the
model or the options: a study resumed with another model, other curve steps or other method options would
otherwise reuse the old records under the new settings. So the first run writes what decides a record:

- the model: its name, its preprocessing, and a digest of its parameters and buffers (the identity of the
  weights, whichever file or code they came from);
- ``steps`` (the deletion/insertion curves) and ``top_k`` (the classes localised per annotated photo);
- the maps' ``precision`` when it is not ``fp32`` (bf16 or fp16 autocast moves maps by more than rounding:
  docs/studies.md);
- for each map label, the attributor and all its options (averaging included: ``seed`` and the like are
  among them); for each localiser label, the localiser and its options;
- when a study runs them, the settings of its ROAD and sanity-check records (:mod:`attribkit.study._checks`).

A later run with the same folder must agree on every one it shares; it may add map and localiser labels
(more methods), photos, and a check it did not run before. Anything else is refused with an :class:`~attribkit.errors.OptionError` naming
the setting that differs. Not stored: what changes only speed or float rounding (``workers``,
``map_batch``, ``batch_size``) and what is not a record (``gallery``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from attribkit.errors import AttribkitWarning, OptionError
from attribkit.study._atomic import write_text
from attribkit.study._settings import ResolvedSetting

MANIFEST = "study.json"


def parameter_digest(model: torch.nn.Module) -> str:
    """A digest (BLAKE2b, 128 bits, hex) of every parameter and buffer: names, dtypes, shapes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as JSON values (tuples as lists; other objects by their repr, without addresses)."""

    def fallback(obj: Any) -> str:
        return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))

    return json.loads(json.dumps(value, sort_keys=True, default=fallback))


def manifest(model: torch.nn.Module, resolved: Sequence[ResolvedSetting], *, steps: int, top_k: int,
             precision: str = "fp32") -> dict[str, Any]:
    """What decides the records of a study with these settings (see the module)."""
    from attribkit.models._info import model_info

    info = model_info(model)
    maps: dict[str, Any] = {}
    localisers: dict[str, Any] = {}
    for r in resolved:
        maps[r.map_label] = {"attributor": r.setting.attributor,
                             "options": {**r.map_options, **r.attributor_options}}
        if r.localiser_label is not None:
            localisers[r.localiser_label] = {"localiser": r.setting.localiser, "options": r.localiser_options}
    wanted = _plain({
        "model": {"name": info.name, "preprocessing": dataclasses.asdict(info.preprocessing),
                  "parameters": parameter_digest(model)},
        "steps": steps, "top_k": top_k, "maps": maps, "localisers": localisers,
    })
    if precision != "fp32":  # only when not the default: a study.json of an older attribkit is float32's
        wanted["precision"] = precision
    return wanted


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first setting that differs, in words (``None``: they agree where both have a value)."""
    for part in ("name", "preprocessing", "parameters"):
        was, now = old.get("model", {}).get(part), new["model"][part]
        if _text(was) != _text(now):
            what = "weights (parameters differ)" if part == "parameters" else f"{part} {was!r}, not {now!r}"
            return f"another model: {what}"
    for key in ("steps", "top_k"):
        if _text(old.get(key)) != _text(new[key]):
            return f"{key}={old.get(key)!r}, not {key}={new[key]!r}"
    if old.get("precision", "fp32") != new.get("precision", "fp32"):
        return f"precision {old.get('precision', 'fp32')}, not {new.get('precision', 'fp32')}"
    for check in ("road", "sanity"):  # a check may be added to a study, not changed
        if check in old and check in new and _text(old[check]) != _text(new[check]):
            return f"{check} settings {_text(old[check])}, not {_text(new[check])}"
    for group, noun in (("maps", "method"), ("localisers", "localiser")):
        for label, now in new[group].items():
            was = old.get(group, {}).get(label)
            if was is not None and _text(was) != _text(now):
                return f"{noun} {label!r} with {_text(was)}, not {_text(now)}"
    return None


def check_and_store(out: Path, wanted: dict[str, Any], *, has_records: bool) -> None:
    """Refuse settings that differ from those stored in ``out/study.json``; store the union otherwise.

    Raises
    ------
    OptionError
        A setting differs (one line: which, and to use another ``--out``), or ``study.json`` is not
        readable.
    """
    path = Path(out) / MANIFEST
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise OptionError(f"{path}: unreadable ({exc}); use another --out, or delete the file to take "
                              "the records as they are") from exc
        differs = _difference(stored, wanted)
        if differs is not None:
            raise OptionError(f"{out}: this study was computed with {differs}; use another --out for other "
                              "settings (or the same settings to resume)")
        merged = {**stored, **wanted, "maps": {**stored.get("maps", {}), **wanted["maps"]},
                  "localisers": {**stored.get("localisers", {}), **wanted["localisers"]}}
        if merged == stored:
            return
    else:
        merged = wanted
        if has_records:
            warnings.warn(f"{out}: records without {MANIFEST} (an older study): they are taken to match these "
                          "settings", AttribkitWarning, stacklevel=3)
    write_text(path, json.dumps(merged, sort_keys=True, indent=1) + "\n")
