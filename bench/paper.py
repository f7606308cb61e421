"""The paper's localisation, claim by claim, and what explains its distance from 46.4% (docs/paper.md).

Simonyan, Vedaldi & Zisserman (2013), "Weakly Supervised Object Localisation": the true class's saliency
map averaged over 10 crops and reflections, GraphCut seeded at its 95% / 30% quantiles, the box of the
largest connected component, for each of the top-5 classes. Three steps, cached under ``--cache``:

``maps``
    For every photo of a boxes file: the model's class probabilities on its input and averaged over the 10
    crops (the paper's class predictions), and the true class's maps on the photo's pixels (NaN where
    the model's view does not reach): ``plain`` (one gradient), ``tencrop`` (the 10-crop average) and,
    with ``--kinds ...,smoothgrad``, ``smoothgrad`` (SmoothGrad over N noisy copies of the model's input, noise
    15% of its range: as many backward passes as the 10 crops).
    ``--view`` sets the model's view of the photo: ``crop`` (its own: shorter side to 256, centre 224,
    crops of 196 of that), ``square`` (the paper's: shorter side to 256, centre 256 × 256, crops of 224),
    or ``R/S`` (shorter side to R, centre S × S, crops of S · 224/256: the resolution lever).
``cut``
    Each localiser setting of :data:`SETTINGS` on each cached map kind: the best IoU of its box with the
    photo's boxes (the ILSVRC criterion needs only the true class's box: a guess of another class never
    matches it, so one map per photo suffices; ``attribkit evaluate`` runs the 5 maps and 5 cuts).
``compare``
    One setting in two caches (``--cache A --cache B``: two views of the same photos) on the photos both
    have, with the paired difference.
``merge``
    ``--cache OUT --cache A --cache B``: two slices of one run (``maps --start/--limit``), as one cache.
``report``
    Fixed settings on all photos with bootstrap 95% intervals (photos resampled); groups of settings
    (``--group``) by 5-fold cross-validation (each fold scored by the setting best on the other four).

Run (one core: the plain and 10-crop maps take about 1.5 s a photo on a quiet core, 11 s on a 2-core
machine shared with seven other jobs, where docs/paper.md was measured)::

    OMP_NUM_THREADS=1 python bench/paper.py maps --data ../shared/data/ilsvrc-val-dev/boxes.json \
        --cache /tmp/paper/ilsvrc-crop --view crop
    OMP_NUM_THREADS=1 python bench/paper.py cut --cache /tmp/paper/ilsvrc-crop
    python bench/paper.py report --cache /tmp/paper/ilsvrc-crop
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import attribkit
from attribkit.attribution import TenCrop, saliency_map
from attribkit.attribution._tencrop import COUNT
from attribkit.data import read_annotations
from attribkit.localisation import photo_saliency
from attribkit.metrics import bootstrap_interval, iou, paired_difference
from attribkit.models import Preprocessing, attach_info, model_info
from attribkit.study._data import annotated_images, class_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wsol_levers import cross_validate, folds

#: The paper's GraphCut, as ``preset="paper"`` sets it (attribkit/methods/graphcut/__init__.py).
PAPER = {"foreground_quantile": 0.95, "background_quantile": 0.30, "components": 5, "smoothness": 50.0,
         "iterations": 1, "sure_seeds": True, "work_size": None, "blur": 0.0, "component": "largest"}

#: Localiser settings: ``name -> (localiser, options)``. Names sharing the prefix before ``:`` form a
#: group that ``report --group`` cross-validates (each holds the paper's own value, but ``tuned``).
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("graphcut", PAPER),
    # The other reading of the paper: seeds only fit the colour models (GrabCut's "probable" labels).
    **{f"seeds:{k}": ("graphcut", {**PAPER, "sure_seeds": k == "sure"}) for k in ("sure", "probable")},
    # Speckle: the same map blurred before its quantiles are taken (sigma, fraction of the short side).
    **{f"blur:{s}": ("graphcut", {**PAPER, "blur": s}) for s in (0.0, 0.02)},
    # Box protocol: the box of the largest component (the paper) or of all foreground.
    **{f"box:{c}": ("graphcut", {**PAPER, "component": c}) for c in ("largest", "all")},
    # Tuned seeds (the team's earlier 45%): background seeds and pairwise weight, the box of all foreground.
    **{f"tuned:{bg}/{g:g}": ("graphcut", {**PAPER, "background_quantile": bg, "smoothness": g, "component": "all"})
       for bg in (0.15, 0.30) for g in (50.0, 150.0)},
    "centre": ("centre", {"area": 0.5}),
}
#: The settings cut on each map kind: all of them on the 10-crop map of the ILSVRC photos in the model's
#: own view; elsewhere the paper's, the box of all foreground and the centre box.
FULL = {"plain": ("paper", "box:all"),
        "tencrop": ("paper", "seeds:sure", "seeds:probable", "blur:0.0", "blur:0.02", "box:largest", "box:all",
                    "tuned:0.15/150", "tuned:0.3/50", "centre"),
        "smoothgrad": ("paper", "box:all")}
SHORT = {"plain": ("paper",), "tencrop": ("paper", "box:all", "centre"), "smoothgrad": ("paper", "box:all")}


def load_view(view: str) -> tuple[torch.nn.Module, float]:
    """The default model with the view's preprocessing, and the crops' side relative to its input."""
    model = attribkit.load_model()
    pre = model_info(model).preprocessing
    if view == "crop":
        return model, 224 / 256
    resize, size = (256, 256) if view == "square" else (int(v) for v in view.split("/"))
    info = model_info(model)
    attach_info(model, attribkit.ModelInfo(info.name, Preprocessing(
        resize=resize, crop=size, mean=pre.mean, std=pre.std, interpolation=pre.interpolation)))
    # The paper's 224 crops of its 256 image; at another size, crops of the same share of the view.
    return model, 224 / 256


def compute_maps(data: Path, cache: Path, view: str, kinds: list[str], smoothgrad: int, limit: int | None,
                 start: int = 0) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    model, fraction = load_view(view)
    images = _photos(data, model)[start:limit]  # a slice: two processes share a long run (``merge``)
    plain = attribkit.create_attributor("saliency", model)
    ten = TenCrop(plain, crop_fraction=fraction)
    # SmoothGrad over as many noisy copies as the 10 crops: the same cost, another way to average speckle.
    smooth = attribkit.create_attributor("saliency", model, smoothgrad=smoothgrad) if smoothgrad else None
    attributors = {"plain": plain, "tencrop": ten, "smoothgrad": smooth}
    note = {"view": view, "fraction": fraction, "data": str(data), "smoothgrad": smoothgrad, "kinds": kinds}
    out: dict[str, list[Any]] = {"name": [], "truth": [], "probs": [], "probs10": [], "plain": [],
                                 "tencrop": [], "smoothgrad": [], "boxes": [], "seconds": []}
    seen: list[torch.Tensor] = []
    # The 10 crops' class scores are the model's outputs on the crops' batch, which the 10-crop map's own
    # forward pass computes: kept from there rather than paid for twice.
    hook = model.register_forward_hook(lambda m, i, o: seen.append(o.detach()) if len(o) == COUNT else None)
    for item in images:
        start = time.perf_counter()
        loaded = attribkit.load_image(item.read(), model)
        x = loaded.tensor
        target = torch.tensor([[item.label]])
        seen.clear()
        for kind in kinds:
            torch.manual_seed(0)
            crop_map = saliency_map(attributors[kind].attribute(x, target=target).detach())[0, 0].float().numpy()
            out[kind].append(photo_saliency(crop_map, loaded.geometry).astype(np.float16))
        with torch.no_grad():
            probs = model(x).softmax(1)[0]
            crops = seen[0] if seen else model(ten.crops(x))
            probs10 = crops.softmax(1).mean(0)  # the paper's class predictions: the mean over the 10 crops
        out["name"].append(item.name)
        out["truth"].append(item.label)
        out["probs"].append(probs.numpy())
        out["probs10"].append(probs10.numpy())
        out["boxes"].append([loaded.geometry.from_source(b) for b in item.boxes])
        out["seconds"].append(time.perf_counter() - start)
        if len(out["name"]) % 25 == 0 or len(out["name"]) == len(images):
            print(f"{len(out['name'])}/{len(images)} photos, {np.mean(out['seconds']):.2f} s each", flush=True)
            # Partial results kept (written whole, then renamed: a cut reading it never sees half a file).
            np.save(cache / "maps.tmp.npy", np.array(out, dtype=object), allow_pickle=True)
            os.replace(cache / "maps.tmp.npy", cache / "maps.npy")
            (cache / "view.json").write_text(json.dumps(note))
    hook.remove()


def _photos(data: Path, model: torch.nn.Module) -> list[Any]:
    """The annotated photos as a study reads them (the first label explained, its boxes the truth)."""
    return annotated_images(read_annotations(data), lambda label: class_of(model, label))


def _load(cache: Path) -> dict[str, Any]:
    return np.load(cache / "maps.npy", allow_pickle=True).item()


def cut(cache: Path, data: Path | None) -> None:
    maps = _load(cache)
    note = json.loads((cache / "view.json").read_text())
    model, _ = load_view(note["view"])
    by_name = {item.name: item for item in _photos(data or Path(note["data"]), model)}
    path = cache / "cuts.json"
    # Incremental: photos already cut (a partial maps file cut earlier) are not cut again.
    previous = json.loads(path.read_text()) if path.exists() else {"iou": {}, "seconds": {}}
    results: dict[str, list[float]] = previous["iou"]
    timing: dict[str, float] = previous["seconds"]
    chosen = FULL if note["view"] == "crop" and "ilsvrc" in note["data"] else SHORT
    for kind in ("plain", "tencrop", "smoothgrad"):
        if not maps[kind]:
            continue
        done: dict[str, list[float]] = {}  # the same options cut once
        for setting in chosen[kind]:
            key = f"{kind} | {setting}"
            localiser, options = SETTINGS[setting]
            same = json.dumps([localiser, options], sort_keys=True)
            have = results.get(key, [])
            if same not in done and len(have) < len(maps["name"]):
                loc = attribkit.create_localiser(localiser, **options)
                start = time.perf_counter()
                new = [max(iou(loc.localise(_rgb(by_name[name], model), m.astype(np.float32)).box, b) for b in boxes)
                       for name, m, boxes in list(zip(maps["name"], maps[kind], maps["boxes"]))[len(have):]]
                timing[key] = (time.perf_counter() - start) / max(1, len(new))
                done[same] = have + new
            elif same not in done and len(have) == len(maps["name"]):
                done[same] = have
            results[key] = done.get(same, have)
            print(f"{key}: {len(results[key])} photos, GT-known {100 * np.mean(np.array(results[key]) >= 0.5):.1f}",
                  flush=True)
            path.write_text(json.dumps({"iou": results, "seconds": timing}))


def _rgb(item: Any, model: torch.nn.Module) -> np.ndarray:
    return attribkit.load_image(item.read(), model).rgb


def _ci(values: np.ndarray) -> str:
    lo, hi = bootstrap_interval(np.asarray(values, float))
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def report(cache: Path, groups: list[str]) -> None:
    maps = _load(cache)
    note = json.loads((cache / "view.json").read_text())
    chosen = FULL if note["view"] == "crop" and "ilsvrc" in note["data"] else SHORT
    cuts = {k: np.asarray(v) for k, v in json.loads((cache / "cuts.json").read_text())["iou"].items()
            if k.split(" | ")[1] in chosen[k.split(" | ")[0]]}  # the settings cut now
    n = min(len(v) for v in cuts.values())  # the photos cut so far (all of them once the cuts are done)
    cuts = {k: v[:n] for k, v in cuts.items()}
    truth = np.asarray(maps["truth"][:n])
    probs, probs10 = np.stack(maps["probs"][:n]), np.stack(maps["probs10"][:n])
    top5 = {"input": np.argsort(-probs, 1)[:, :5], "10 crops": np.argsort(-probs10, 1)[:, :5]}
    in5 = {k: (v == truth[:, None]).any(1) for k, v in top5.items()}
    in1 = {k: v[:, 0] == truth for k, v in top5.items()}
    print(f"{n} photos; {np.mean(maps['seconds']):.2f} s per photo for the maps")
    for k in top5:
        print(f"classes from the {k}: top-1 class error {100 * (1 - in1[k].mean()):.1f}, "
              f"top-5 class error {100 * (1 - in5[k].mean()):.1f}")
    centre = cuts["tencrop | centre"] >= 0.5

    def line(label: str, hit: np.ndarray) -> str:
        err5 = 1.0 - hit * in5["10 crops"]
        err1 = 1.0 - hit * in1["10 crops"]
        d = paired_difference(hit.astype(float), centre.astype(float))
        return (f"{label}: GT-known {100 * hit.mean():.1f} {_ci(hit)}; top-5 loc err {100 * err5.mean():.1f} "
                f"{_ci(err5)} (classes from the input: {100 * (1 - hit * in5['input']).mean():.1f}); top-1 "
                f"{100 * err1.mean():.1f} {_ci(err1)}; vs centre {100 * d.mean:+.1f} [{100 * d.low:+.1f}, "
                f"{100 * d.high:+.1f}]")

    for key, ious in cuts.items():
        print(line(key, ious >= 0.5))
    fold = folds(n)
    for group in groups:
        hits = {k: v >= 0.5 for k, v in cuts.items() if k.startswith(group)}
        if hits:
            held, chosen = cross_validate(hits, fold)
            print(line(f"HELD OUT {group!r}", held))
            for c in sorted(set(chosen)):
                print(f"    chosen on {chosen.count(c)} fold(s): {c}")


def compare(caches: list[Path], keys: list[str]) -> None:
    """One setting in two caches (two views of the same photos): each on the photos both have, and the
    paired difference of the second from the first (McNemar's test for hits)."""
    hits, in5 = [], []
    for i, cache in enumerate(caches):
        maps = _load(cache)
        cuts = json.loads((cache / "cuts.json").read_text())["iou"]
        # One key per cache (two settings of one cache: the cache twice), or the first key it has.
        for key in [keys[i]] if len(keys) == len(caches) else keys:
            if key in cuts:
                hits.append((f"{cache.name} | {key}", np.asarray(cuts[key]) >= 0.5))
                truth = np.asarray(maps["truth"])
                in5.append((np.argsort(-np.stack(maps["probs10"]), 1)[:, :5] == truth[:, None]).any(1))
                break
    n = min(len(h) for _, h in hits)
    (a_name, a), (b_name, b) = ((name, h[:n]) for name, h in hits)
    a5, b5 = 1.0 - a * in5[0][:n], 1.0 - b * in5[1][:n]
    for name, hit, err in ((a_name, a, a5), (b_name, b, b5)):
        print(f"{name}: {n} photos, GT-known {100 * hit.mean():.1f} {_ci(hit)}, top-5 loc err {100 * err.mean():.1f} "
              f"{_ci(err)}")
    for label, x, y in (("GT-known", a, b), ("top-5 loc err", a5, b5)):
        d = paired_difference(y.astype(float), x.astype(float))
        print(f"  {label}: second - first {100 * d.mean:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}], p = {d.p_value:.3g}")


def merge(caches: list[Path]) -> None:
    """``--cache OUT --cache A --cache B``: A's photos then B's (two slices of one run), maps and cuts."""
    out, parts = caches[0], caches[1:]
    out.mkdir(parents=True, exist_ok=True)
    maps = [_load(p) for p in parts]
    cuts = [json.loads((p / "cuts.json").read_text())["iou"] for p in parts]
    note = json.loads((parts[0] / "view.json").read_text())
    chosen = FULL if note["view"] == "crop" and "ilsvrc" in note["data"] else SHORT
    keys = [k for k in cuts[0] if all(k in c for c in cuts) and k.split(" | ")[1] in chosen[k.split(" | ")[0]]]
    n = [min(len(c[k]) for k in keys) for c in cuts]  # the photos cut in each part
    merged = {k: [v for m, i in zip(maps, n) for v in m[k][:i]] for k in maps[0]}
    np.save(out / "maps.npy", np.array(merged, dtype=object), allow_pickle=True)
    (out / "view.json").write_text((parts[0] / "view.json").read_text())
    joined = {k: [v for c, i in zip(cuts, n) for v in c[k][:i]] for k in keys}
    (out / "cuts.json").write_text(json.dumps({"iou": joined, "seconds": {}}))
    print(f"{out}: {sum(n)} photos ({' + '.join(map(str, n))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("maps", "cut", "report", "compare", "merge"))
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--cache", type=Path, action="append", default=[],
                        help="the step's cache (compare: two of them, e.g. two views of the same photos)")
    parser.add_argument("--key", action="append", default=[], help="compare: the setting, e.g. 'tencrop | paper'")
    parser.add_argument("--view", default="crop", help="crop, square, or RESIZE/CROP")
    parser.add_argument("--kinds", default="plain,tencrop", help="maps: plain, tencrop, smoothgrad (comma-separated)")
    parser.add_argument("--smoothgrad", type=int, default=10, help="noisy copies of the smoothgrad kind")
    parser.add_argument("--limit", type=int, default=None, help="maps: photos up to this index")
    parser.add_argument("--start", type=int, default=0, help="maps: photos from this index")
    parser.add_argument("--group", action="append", default=[], help="report: cross-validate keys with this prefix")
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    if args.step == "merge":
        return merge(args.cache)
    if args.step != "compare":
        args.cache = args.cache[0] if args.cache else Path(os.environ.get("PAPER_CACHE", "/tmp/paper"))
    if args.step == "maps":
        kinds = args.kinds.split(",")
        compute_maps(args.data or Path("../shared/data/ilsvrc-val-dev/boxes.json"), args.cache, args.view, kinds,
                     args.smoothgrad if "smoothgrad" in kinds else 0, args.limit, args.start)
    elif args.step == "cut":
        cut(args.cache, args.data)
    elif args.step == "compare":
        compare(args.cache, args.key or ["tencrop | paper"])
    else:
        report(args.cache, args.group)


if __name__ == "__main__":
    main()
