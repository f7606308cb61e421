"""``attribkit saliency PHOTO... --out DIR``: the paper's saliency maps as PNG panels, and the maps."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from attribkit.cli._common import (
    CommandError,
    add_model_args,
    add_target_args,
    class_indices,
    model_from_args,
    output_dir,
    progress,
)
from attribkit.cli._outputs import JsonReport, averaging_suffix, class_targets, model_suffix, save_maps_of
from attribkit.cli._photos import add_photo_args, batch_from_args, photo_names
from attribkit.cli._common import slug

if TYPE_CHECKING:
    import torch

#: How to read a saliency panel, in one line (the caption when no method caveat applies).
READING = ("bright: the pixels whose small change most changes the class score (max over colours of |∂S_c/∂I|; "
           "each map scaled to its own 99.5th percentile)")

#: SmoothGrad's noisy copies for the smoothed map beside the paper's (``--smooth``).
SMOOTH_SAMPLES = 25


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("saliency", help="saliency maps for photos (paper section 3)",
                       description="For each photo and target class, a panel PNG: the model's input crop, "
                                   "the method's map (the paper's gradient by default), the same method smoothed "
                                   "by SmoothGrad beside it, and an overlay. --save-maps also writes the "
                                   "bare maps (.npy and 16-bit PNG, on the photo's pixels); --json a "
                                   "summary of everything written.")
    add_photo_args(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--method", default="saliency",
                   help="attributor to use (see `attribkit plugins`; default: saliency)")
    p.add_argument("--ten-crop", action="store_true", help="average over 10 crops and flips (the paper's display maps)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an averaging option (smoothgrad=25, vargrad=25, noise=0.15, scales=0.75,1,1.5, "
                        "crop_fraction=0.875) or the method's own (repeatable)")
    p.add_argument("--smooth", type=int, default=SMOOTH_SAMPLES, metavar="N",
                   help=f"show beside the map the same method averaged by SmoothGrad over N noisy copies "
                        f"(default {SMOOTH_SAMPLES}; 0: leave it out)")
    p.add_argument("--save-maps", action="store_true",
                   help="also write each map as <panel>_map.npy (float32, photo pixels, NaN outside the "
                        "model's crop) and <panel>_map.png (16-bit)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write per photo and class: label, name, score and the files written")
    add_target_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def describe(method: str, options: dict[str, Any]) -> str:
    """A panel title for a method with its averaging, in the paper's words where it is the paper's."""
    title = "saliency |∂S_c/∂I| (paper)" if method == "saliency" else method
    averaged = []
    if options.get("ten_crop"):
        averaged.append("10-crop average")
    for key in ("smoothgrad", "vargrad"):
        if options.get(key):
            averaged.append(f"{'SmoothGrad' if key == 'smoothgrad' else 'VarGrad'} ×{options[key]}")
    if tuple(options.get("scales", (1.0,))) != (1.0,):
        averaged.append("multi-scale")
    return title + ("\n" + ", ".join(averaged) if averaged else "")


def method_caveat(method: str, model: torch.nn.Module) -> str | None:
    """A one-line caption where a method is known to show little of the photo on this model, else None.

    DeconvNet's backward ReLU does not look at the image; only max-pool switches (and ReLU6's upper clamp)
    do. On a network with strided convolutions and no max-pooling (the default EfficientNet-Lite0, most
    modern ones) its map is a nearly image-independent grid (measured: docs/rules.md).
    """
    import torch

    if method != "deconvnet":
        return None
    modules = list(model.modules())
    strided = any(isinstance(m, torch.nn.Conv2d) and max(m.stride) > 1 for m in modules)
    pooled = any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AdaptiveMaxPool2d)) for m in modules)
    if not strided or pooled:
        return None
    return ("DeconvNet on a strided network without max-pooling looks nearly the same for every photo "
            "(see docs/rules.md); guided backprop or a smoothed map shows the object")


def run(args: argparse.Namespace) -> int:
    import attribkit
    from attribkit.render import OVERLAY_BLUR, is_low, overlay, probability_label, save_panel

    if args.smooth < 0:
        raise CommandError(f"--smooth must be >= 0; got {args.smooth}", status=2)
    from attribkit.cli._usage import recipe_of

    photos, rows, failures = batch_from_args(args, "saliency")
    recipe = recipe_of(args)  # resolved once, by the usage check
    options: dict[str, Any] = dict(recipe.options)
    out = output_dir(args.out)
    report = JsonReport(args.json, command="saliency", method=args.method, options=options)
    model = model_from_args(args)
    target = None if args.target is None else class_indices(model, [args.target])[0]
    per_photo = class_targets(model, rows, args.targets)
    noisy = any(options.get(k) for k in ("smoothgrad", "vargrad"))
    smooth = None
    if args.smooth and not noisy:
        smooth = dataclasses.replace(recipe, name="", options={**options, "smoothgrad": args.smooth})
    caveat = method_caveat(args.method, model) or (READING if args.method == "saliency" else None)
    suffix = averaging_suffix(options) + model_suffix(args.model, args.weights)
    stems = photo_names(photos)  # distinct photos never share a file (a/x.jpg, b/x.jpg, x.png)
    titles = ["photo (model input)", describe(args.method, options)]
    if smooth is not None:
        titles.append(f"SmoothGrad of it\n(mean over {args.smooth} noisy copies)")
    titles.append("overlay (SmoothGrad, blurred)" if smooth is not None else "overlay (blurred)")
    for path in progress(photos, desc=args.method, total=len(photos)):
        try:
            image = attribkit.load_image(path, model)
        except attribkit.ImageError as exc:
            print(f"attribkit saliency: skipping {exc}", file=sys.stderr)
            report.failed(path, str(exc))
            failures += 1
            continue
        asked = per_photo.get(path, target)
        maps = attribkit.saliency(model, image, target=asked, top_k=args.top_k, recipe=recipe)
        smoothed = None if smooth is None else attribkit.saliency(model, image, target=maps.labels, recipe=smooth)
        crop = image.input_rgb
        stem = stems[path]
        classes = []
        for k, (label, cls, score) in enumerate(zip(maps.labels, maps.names, maps.scores)):
            name = f"{stem}_{slug(cls)}_{slug(args.method)}{suffix}"
            shown = [crop, maps.maps[k]] + ([] if smoothed is None else [smoothed.maps[k]])
            panel = save_panel(out / f"{name}.png", [*shown, overlay(crop, shown[-1], blur=OVERLAY_BLUR)], titles,
                               suptitle=f"{path.name}: {cls}, {probability_label(score)}", muted=is_low(score),
                               caption=caveat)
            print(panel)
            files = {"panel": str(panel)}
            if args.save_maps:
                files.update(save_maps_of(out / f"{name}_map", maps.photo_maps[k]))
            classes.append({"label": label, "name": cls, "score": score, "box": None, **files})
        report.photo(path, classes)
    report.write()
    return 1 if failures else 0
