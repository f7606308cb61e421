"""Maps under bf16 / fp16 autocast against float32, per method: the largest difference, and how often it moves
a box (the study's ``--precision``; attribkit.study._precision).

For each photo the maps of the ILSVRC protocol's classes (the model's top-5 and the true class, one
``crop_maps`` call per batch of photos, as the study computes them) are computed in float32 and under
autocast, on the same device. Reported per method and precision:

- ``max diff``: the largest ``|map - map_fp32|`` over every pixel, class and photo, relative to that map's
  float32 maximum (maps are ``max_c |a|`` >= 0), and the median over maps of the same ratio;
- ``rel. L2``: the median over maps of ``||map - map_fp32|| / ||map_fp32||``;
- ``boxes moved``: how many of the (photo, class) boxes of the default localiser (threshold at 20% of
  the maximum, largest component) differ from float32's, their mean (least) IoU with float32's, and how
  many photos change their GT-known hit
  (IoU >= 0.5 with a ground-truth box for the true class);
- ms per photo for each precision (on a CPU without native bf16, autocast emulates it: slower).

    OMP_NUM_THREADS=1 python bench/precision.py [--photos 16] [--device cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import attribkit
from attribkit.localisation import crop_maps, photo_saliency
from attribkit.localisation._presets import resolve_options
from attribkit.metrics import iou
from attribkit.study import study_images
from attribkit.study._data import class_of
from attribkit.study._precision import autocast

#: (row, attributor, options): the built-in methods and the bridges' costlier ones, with short settings.
METHODS = [
    ("saliency", "saliency", {}),
    ("gradcam", "gradcam", {}),
    ("deconvnet", "deconvnet", {}),
    ("guided_backprop", "guided_backprop", {}),
    ("smoothgrad (saliency, 8 samples)", "saliency", {"smoothgrad": 8}),
    ("captum:integrated_gradients (8 steps)", "captum:integrated_gradients", {"n_steps": 8}),
    ("zennit:epsilon_plus (LRP)", "zennit:epsilon_plus", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ilsvrc-val-dev/boxes.json")
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="bf16,fp16")
    parser.add_argument("--methods", default=None, help="comma-separated rows of METHODS (default: all)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    model = attribkit.load_model().to(device)
    items = study_images(args.data, class_index=lambda label: class_of(model, label))[: args.photos]
    loaded = [attribkit.load_image(i.read(), model) for i in items]
    x = torch.cat([im.tensor for im in loaded]).to(device)
    with torch.no_grad():
        top5 = model(x).topk(5, dim=1).indices.cpu()
    classes = [top5[i].tolist() + [items[i].label] for i in range(len(items))]
    targets = torch.tensor(classes, device=device)
    _, options = resolve_options("default", "threshold", {}, attributor="gradcam")
    localiser = attribkit.create_localiser("threshold", **options)
    chosen = [m for m in METHODS if args.methods is None or m[0].split(" ")[0] in args.methods.split(",")]
    rows = []
    print(f"{len(items)} photos of {args.data}, {x.shape[0]} x 6 maps per precision, on {device}")
    for label, name, opts in chosen:
        attributor = attribkit.create_attributor(name, model, **opts)
        maps, ms = {}, {}
        for precision in ["fp32", *args.precisions.split(",")]:
            start = time.perf_counter()
            parts = []
            for b in range(0, len(items), args.batch):
                torch.manual_seed(b)  # the same SmoothGrad noise in every precision
                with autocast(device, precision):
                    parts.append(crop_maps(attributor, x[b : b + args.batch], targets[b : b + args.batch]).cpu())
            maps[precision] = torch.cat(parts).numpy().astype(np.float64)
            ms[precision] = 1000 * (time.perf_counter() - start) / len(items)
        boxes = {p: _boxes(localiser, m, loaded) for p, m in maps.items()}
        for precision in maps:
            if precision == "fp32":
                continue
            rows.append(_compare(label, precision, maps, boxes, items, loaded, classes, ms))
            print(_line(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


def _boxes(localiser, maps: np.ndarray, loaded) -> list[list[tuple[int, ...] | None]]:  # type: ignore[no-untyped-def]
    out = []
    for i, image in enumerate(loaded):
        row = []
        for k in range(maps.shape[1]):
            found = localiser.localise(image.rgb, photo_saliency(maps[i, k].astype(np.float32), image.geometry))
            row.append(None if found.box is None else tuple(int(v) for v in found.box))
        out.append(row)
    return out


def _compare(label, precision, maps, boxes, items, loaded, classes, ms) -> dict:  # type: ignore[no-untyped-def]
    ref, got = maps["fp32"], maps[precision]
    peak = np.abs(ref).reshape(*ref.shape[:2], -1).max(axis=2)  # [N, K]
    ratio = np.abs(got - ref).reshape(*ref.shape[:2], -1).max(axis=2) / np.where(peak > 0, peak, 1.0)
    moved = sum(a != b for ra, rb in zip(boxes["fp32"], boxes[precision]) for a, b in zip(ra, rb))
    overlaps = [float(iou(np.asarray([a], dtype=np.float64), b)[0]) for ra, rb in zip(boxes["fp32"], boxes[precision])
                for a, b in zip(ra, rb) if a is not None and b is not None]
    l2 = np.linalg.norm((got - ref).reshape(*ref.shape[:2], -1), axis=2) / np.maximum(
        np.linalg.norm(ref.reshape(*ref.shape[:2], -1), axis=2), 1e-30)
    flips = 0
    for i, item in enumerate(items):
        truth = np.asarray([loaded[i].geometry.from_source(b) for b in item.boxes], dtype=np.float64)
        hits = []
        for p in ("fp32", precision):
            box = boxes[p][i][len(classes[i]) - 1]  # the true class is last
            hits.append(box is not None and float(np.max(iou(truth, box))) >= 0.5)
        flips += hits[0] != hits[1]
    return {"method": label, "precision": precision, "max_diff": float(ratio.max()),
            "median_diff": float(np.median(ratio)),
            "median_l2": float(np.median(l2)), "min_box_iou": float(min(overlaps, default=1.0)),
            "mean_box_iou": float(np.mean(overlaps)) if overlaps else 1.0,
            "boxes_moved": int(moved), "boxes": int(ratio.size), "gt_known_flips": int(flips), "photos": len(items),
            "ms_fp32": ms["fp32"], "ms": ms[precision], "zero_maps": int((peak == 0).sum()),
            "zero_maps_lowp": int((np.abs(got).reshape(*got.shape[:2], -1).max(axis=2) == 0).sum())}


def _line(r: dict) -> str:  # type: ignore[type-arg]
    return (f"| {r['method']} | {r['precision']} | {r['max_diff']:.2g} | {r['median_diff']:.2g} | "
            f"{r['median_l2']:.2g} | "
            f"{r['boxes_moved']}/{r['boxes']} | {r['mean_box_iou']:.3f} ({r['min_box_iou']:.2f}) | "
            f"{r['gt_known_flips']}/{r['photos']} | {r['ms_fp32']:.0f} | {r['ms']:.0f} |")


if __name__ == "__main__":
    main()
