"""What the batch verbs write beside their panels: per-photo classes from a ``--targets`` CSV, the bare
maps (``--save-maps``) and the ``--json`` summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attribkit.cli._common import CommandError
from attribkit.cli._photos import Rows
from attribkit.cli._common import path_digest, slug

if TYPE_CHECKING:
    import numpy as np
    import torch


def class_targets(model: torch.nn.Module, rows: Rows, csv_name: str | None) -> dict[Path, list[int]]:
    """Each photo's CSV classes (names, WordNet ids or indices) → class indices, each once; a usage error
    (exit 2) naming the CSV line of an unknown class, with close names. A class listed again for the same
    photo (the same row twice, or a name and its index) is computed once, with a note on stderr."""
    import sys

    from attribkit.errors import TargetError
    from attribkit.models import model_info

    info = model_info(model)
    out: dict[Path, list[int]] = {}
    for photo, entries in rows.items():
        first: dict[int, int] = {}  # class → the CSV line that asked for it first
        for line, target in entries:
            try:
                index = int(info.targets([[target]], batch=1).index[0, 0])
            except TargetError as exc:
                raise CommandError(f"--targets {csv_name} line {line}: {exc}", status=2) from exc
            if index in first:
                print(f"attribkit: --targets {csv_name} line {line}: {photo.name} class {target!r} is listed "
                      f"already (line {first[index]}); computed once", file=sys.stderr)
                continue
            first[index] = line
            out.setdefault(photo, []).append(index)
    return out


def save_maps_of(stem: Path, photo_map: np.ndarray) -> dict[str, str]:
    """``--save-maps``: the map as ``<stem>.npy`` and a 16-bit ``<stem>.png``; their names for the JSON."""
    from attribkit.render import save_map

    npy, png = save_map(stem, photo_map)
    print(npy)
    print(png)
    return {"map_npy": str(npy), "map_png": str(png)}


def averaging_suffix(options: dict[str, Any]) -> str:
    """The options in a file name, so that differently averaged maps never overwrite each other:
    ``{"ten_crop": True, "smoothgrad": 25}`` → ``"_tencrop_smoothgrad25"``."""
    from attribkit.attribution import AVERAGING_OPTIONS

    # One order whatever the order on the command line: the averaging (innermost first), then the rest.
    order = {k: i for i, k in enumerate(AVERAGING_OPTIONS)}
    parts = []
    for key, value in sorted(options.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        name = key.replace("_", "")
        if value is True:
            parts.append(name)
        elif value is False:
            parts.append(f"no{name}")
        elif isinstance(value, (tuple, list)):
            parts.append(name + "-".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value))
        else:
            parts.append(f"{name}{value:g}" if isinstance(value, float) else f"{name}{value}")
    return "".join(f"_{slug(p)}" for p in parts)


def model_suffix(model: str, weights: str | None) -> str:
    """The model in a file name, so that runs with different models never overwrite each other's files:
    ``""`` for the default model with its bundled weights (the names the README shows), else
    ``"_<model>"`` and, for a weights file, ``"_<its stem>-<6 hex digits of its resolved path>"`` (two
    ``model.pth`` files in different folders are different models).

    Example
    -------
    >>> model_suffix("efficientnet_lite0", None), model_suffix("timm:resnet18", "random")
    ('', '_timm_resnet18_random')
    """
    from attribkit.models._load import DEFAULT_MODEL, RANDOM

    if model == DEFAULT_MODEL and weights is None:
        return ""
    if weights is None or weights == RANDOM:
        return "".join(f"_{slug(part)}" for part in (model, weights) if part)
    return f"_{slug(model)}_{slug(Path(weights).resolve().stem)}-{path_digest(weights, 6)}"


class JsonReport:
    """The ``--json FILE`` summary: per photo, each class's label, name, score, box and files written
    (or the photo's error), plus the command's settings. Nothing is written without a file name."""

    def __init__(self, path: str | None, **settings: Any) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None and self.path.is_dir():
            raise CommandError(f"--json {self.path} is a folder; give a file name", status=2)
        self.data: dict[str, Any] = {**settings, "photos": []}

    def photo(self, photo: Path, classes: list[dict[str, Any]]) -> None:
        self.data["photos"].append({"photo": str(photo), "classes": classes})

    def failed(self, photo: Path, error: str) -> None:
        self.data["photos"].append({"photo": str(photo), "error": error})

    def write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, default=_plain) + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    """Tuples of numpy numbers (boxes) and other numpy scalars → JSON numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
