"""Evaluating localisation settings on annotated photos: the numbers of ``attribkit evaluate``.

Saliency maps are the expensive part, so each photo's maps are computed once per distinct
(attributor, map options) and shared by every setting that uses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attribkit.data._image import ImageError, load_image
from attribkit._core.interfaces import Box
from attribkit.localisation._maps import SaliencyMaps, saliency
from attribkit.localisation._pipeline import localise_maps
from attribkit.localisation._presets import resolve_options
from attribkit._core.registry import create_localiser
from attribkit.datasets import AnnotatedImage
from attribkit.metrics import gt_known_accuracy, iou, localisation_error, max_box_acc, pointing_game
from attribkit.models._info import model_info


@dataclass(frozen=True)
class Setting:
    """One row group of the table: an attributor, a localiser, a preset and explicit options."""

    name: str
    attributor: str = "saliency"
    localiser: str = "graphcut"
    preset: str = "default"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class PhotoResult:
    """What one setting answered on one photo."""

    truth_label: int
    truth: list[Box]
    known_box: Box | None
    guesses: list[tuple[int, Box | None]]
    map_on_photo: np.ndarray
    ms: float


@dataclass(frozen=True)
class Row:
    setting: str
    subset: str
    images: int
    gt_known: float
    top1_error: float
    top5_error: float
    max_box_acc: float
    pointing: float
    ms_per_photo: float

    COLUMNS = ("setting", "subset", "images", "gt_known", "top1_error", "top5_error", "max_box_acc",
               "pointing", "ms_per_photo")


def class_of(model: torch.nn.Module, label: str) -> int:
    """An annotation's label (ImageNet wnid, class name or index) → the model's class index."""
    return model_info(model).class_index(label)


def _map_key(setting: Setting) -> tuple[Any, ...]:
    maps, _ = resolve_options(setting.preset, setting.localiser, setting.options)
    return (setting.attributor, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in maps.items())))


def run_settings(
    model: torch.nn.Module,
    images: Sequence[AnnotatedImage],
    settings: Sequence[Setting],
    *,
    top_k: int = 5,
    progress: Callable[[Iterable[AnnotatedImage]], Iterable[AnnotatedImage]] = lambda x: x,
    on_photo: Callable[[AnnotatedImage, Setting, PhotoResult, np.ndarray], None] | None = None,
) -> dict[str, list[PhotoResult]]:
    """Each setting's answers for each photo (the model's top-k classes plus the true class).

    ``ms`` per photo counts the saliency maps (split evenly among the settings sharing them is *not*
    done: each setting is charged the full cost of its maps, as if run alone) and the localiser.
    """
    localisers = {}
    for s in settings:
        _, loc_options = resolve_options(s.preset, s.localiser, s.options)
        localisers[s.name] = create_localiser(s.localiser, **loc_options)
    results: dict[str, list[PhotoResult]] = {s.name: [] for s in settings}
    device = next(iter(model.parameters()), torch.empty(0)).device
    for item in progress(images):
        try:
            loaded = load_image(item.path, model)
        except ImageError as exc:
            raise ImageError(f"{item.path}: {exc}") from exc
        truth_label = class_of(model, item.labels[0])
        with torch.no_grad():
            top = model(loaded.tensor.to(device))[0].topk(top_k).indices.tolist()
        labels = top + ([truth_label] if truth_label not in top else [])
        cache: dict[tuple[Any, ...], tuple[SaliencyMaps, float]] = {}
        for s in settings:
            key = _map_key(s)
            if key not in cache:
                map_options, _ = resolve_options(s.preset, s.localiser, s.options)
                start = time.perf_counter()
                maps = saliency(model, loaded, target=labels, method=s.attributor, **map_options)
                cache[key] = (maps, (time.perf_counter() - start) * 1000 * len(top) / len(labels))
            maps, map_ms = cache[key]
            start = time.perf_counter()
            found = localise_maps(model, loaded, maps, localisers[s.name])
            loc_ms = (time.perf_counter() - start) * 1000
            by_label = {r.label: r for r in found}
            truth_result = by_label[truth_label]
            result = PhotoResult(
                truth_label, item.boxes(), truth_result.box, [(c, by_label[c].box) for c in top],
                truth_result.saliency, map_ms + loc_ms * len(top) / len(labels),
            )
            results[s.name].append(result)
            if on_photo is not None:
                on_photo(item, s, result, loaded.rgb)
    return results


def summarise(name: str, subset: str, results: Sequence[PhotoResult], *, with_maps: bool = True) -> Row:
    """The metrics of one setting on some photos."""
    truths = [r.truth for r in results]
    predictions = [r.guesses for r in results]
    ground = [[(r.truth_label, b) for b in r.truth] for r in results]
    maps = [np.nan_to_num(r.map_on_photo, nan=float(np.nanmin(r.map_on_photo))) for r in results]
    return Row(
        name, subset, len(results),
        gt_known_accuracy([r.known_box for r in results], truths),
        localisation_error(predictions, ground, k=1),
        localisation_error(predictions, ground, k=5),
        max_box_acc(maps, truths).value if with_maps else float("nan"),
        pointing_game(maps, truths) if with_maps else float("nan"),
        float(np.mean([r.ms for r in results])),
    )


def table(results: dict[str, list[PhotoResult]], *, halves: bool = True) -> list[Row]:
    """Rows for every setting: all photos, and (``halves``) the first and second half separately."""
    rows = []
    for name, photos in results.items():
        n = len(photos)
        rows.append(summarise(name, "all", photos))
        if halves and n >= 2:
            rows.append(summarise(name, f"1-{n // 2}", photos[: n // 2]))
            rows.append(summarise(name, f"{n // 2 + 1}-{n}", photos[n // 2 :]))
    return rows


def truth_iou(result: PhotoResult) -> float:
    """Best IoU of the true class's box with any ground-truth box (0 without a box)."""
    if result.known_box is None:
        return 0.0
    return float(max(iou(result.known_box, t) for t in result.truth))


def markdown(rows: Sequence[Row]) -> str:
    """A Markdown table (percentages for accuracies and errors)."""
    head = ("setting", "photos", "subset", "GT-known acc", "top-1 loc err", "top-5 loc err", "MaxBoxAcc",
            "pointing", "ms/photo")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(
            f"| {r.setting} | {r.images} | {r.subset} | {100 * r.gt_known:.1f} | {100 * r.top1_error:.1f} | "
            f"{100 * r.top5_error:.1f} | {100 * r.max_box_acc:.1f} | {100 * r.pointing:.1f} | "
            f"{r.ms_per_photo:.0f} |"
        )
    return "\n".join(lines) + "\n"
