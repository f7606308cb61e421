"""``attribkit localise PHOTO... --out DIR``: boxes of the top-k classes drawn on each photo (paper section 4)."""

from __future__ import annotations

import argparse
import sys

from attribkit.cli._common import (
    add_model_args,
    add_target_args,
    class_indices,
    model_from_args,
    output_dir,
    parse_options,
    progress,
)
from attribkit.cli._outputs import JsonReport, averaging_suffix, class_targets, save_maps_of
from attribkit.cli._photos import add_photo_args, batch_from_args
from attribkit.cli._common import file_name, slug


def add_localiser_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default=None,
                        help="attributor whose map seeds the localiser (see `attribkit plugins`; default: the "
                             "preset's: gradcam for default, saliency for gradient and paper)")
    parser.add_argument("--localiser", default=None,
                        help="threshold, graphcut, centre, ... (default: the preset's: threshold for default, "
                             "graphcut for gradient and paper)")
    parser.add_argument("--preset", default="default",
                        help="default (measured best: Grad-CAM + threshold box), gradient (best with the paper's "
                             "gradient maps) or paper (the paper read literally)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a map or localiser option, e.g. blur=0.03 or ten_crop=true (repeatable)")


#: The columns ``attribkit localise`` prints, one line per photo and class (tab-separated).
HEADER = ("photo", "panel", "label", "name", "score", "x0", "y0", "x1", "y1")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("localise", help="weakly supervised boxes from saliency (paper section 4)",
                       description="For each photo and each target class (default: the model's top-1; "
                                   "--top-k 5 for the paper's protocol): saliency map, localiser, and a PNG "
                                   "of the photo with the mask and boxes drawn on it, the classes listed "
                                   "under it. Prints a header line, then one tab-separated line per photo "
                                   "and class: " + ", ".join(HEADER) + " (box in photo pixels, x1/y1 "
                                   "exclusive; empty when nothing was found).")
    add_photo_args(p)
    p.add_argument("--out", required=True, metavar="DIR")
    add_localiser_args(p)
    p.add_argument("--save-maps", action="store_true",
                   help="also write each class's map as .npy (float32, photo pixels, NaN outside the "
                        "model's crop) and a 16-bit PNG")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write per photo and class: label, name, score, box, fallback (why the box is the "
                        "localiser's fallback, e.g. 'flat map'; null when it localised) and the files written")
    add_target_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import attribkit
    from attribkit.render import box_legend, draw_boxes, overlay, probability_label, save_panel

    from attribkit.localisation import pipeline

    photos, rows, failures = batch_from_args(args, "localise")
    chosen = pipeline(args.preset)
    args.method, args.localiser = args.method or chosen.attributor, args.localiser or chosen.localiser
    options = parse_options(args.option)
    out = output_dir(args.out)
    report = JsonReport(args.json, command="localise", method=args.method, localiser=args.localiser,
                        preset=args.preset, options=options)
    model = model_from_args(args)
    target = None if args.target is None else class_indices(model, [args.target])[0]
    per_photo = class_targets(model, rows, args.targets)
    suffix = ("" if args.preset == "default" else f"_{slug(args.preset)}") + averaging_suffix(options)
    print("\t".join(HEADER), flush=True)
    for path in progress(photos, desc="localise", total=len(photos)):
        try:
            image = attribkit.load_image(path, model)
        except attribkit.ImageError as exc:
            print(f"attribkit localise: skipping {exc}", file=sys.stderr)
            report.failed(path, str(exc))
            failures += 1
            continue
        results = attribkit.localise(model, image, target=per_photo.get(path, target), top_k=args.top_k,
                                     attributor=args.method, localiser=args.localiser, preset=args.preset,
                                     **options)
        rgb = image.rgb
        legend = box_legend([f"{r.name} {probability_label(r.score)}" for r in results])
        drawn = draw_boxes(rgb, [r.box for r in results], mask=results[0].mask)
        stem = file_name(path.stem)  # distinct photos never share a file (a b.jpg, a_b.jpg)
        png = out / f"{stem}_{slug(args.method)}_{slug(args.localiser)}{suffix}.png"
        save_panel(png, [drawn, overlay(rgb, _finite(results[0].saliency))],
                   [f"{args.method} + {args.localiser}: boxes, mask of {results[0].name}",
                    f"{args.method} map of {results[0].name}"],
                   suptitle=path.name, size=4.5, legends=[legend, None])
        classes = []
        for r in results:
            box = "\t".join(str(v) for v in r.box) if r.box is not None else "\t\t\t"
            print(f"{path}\t{png}\t{r.label}\t{r.name}\t{r.score:.3f}\t{box}")
            files = {"panel": str(png)}
            if args.save_maps:
                files.update(save_maps_of(out / f"{stem}_{slug(r.name)}_{slug(args.method)}_map", r.saliency))
            classes.append({"label": r.label, "name": r.name, "score": r.score,
                            "box": None if r.box is None else list(r.box), "fallback": r.fallback, **files})
        report.photo(path, classes)
    report.write()
    return 1 if failures else 0


def _finite(m):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.nan_to_num(m, nan=float(np.nanmin(m)) if np.isfinite(m).any() else 0.0)
