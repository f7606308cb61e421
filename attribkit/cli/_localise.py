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
    progress,
)
from attribkit.cli._outputs import JsonReport, averaging_suffix, class_targets, model_suffix, save_maps_of
from attribkit.cli._photos import add_photo_args, batch_from_args, photo_names
from attribkit.cli._common import slug


def add_localiser_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default=None,
                        help="attributor whose map seeds the localiser (see `attribkit plugins`; default: the "
                             "preset's: gradcam for default, saliency for gradient and paper)")
    parser.add_argument("--localiser", default=None,
                        help="threshold, graphcut, centre, ... (default: the preset's: threshold for default, "
                             "graphcut for gradient and paper)")
    parser.add_argument("--preset", default="default",
                        help="default (measured best: Grad-CAM + threshold box), gradient (best with the paper's "
                             "gradient maps), paper (the paper read literally) or none (no preset: the plain map "
                             "and the localiser's own defaults; saliency + graphcut unless named)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a map or localiser option, e.g. blur=0.03 or ten_crop=true (repeatable)")


#: How to read a panel of several classes' boxes, for a reader new to it.
TOP_K_CAPTION = ("thick box: the model's top class, drawn over the others; a class marked (low) has "
                 "p < 0.05 and no box drawn (its box is still in the printed table and --json)")

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
    from attribkit.localisation._display import panel_caption, seen_region
    from attribkit.render import box_legend, draw_boxes, overlay, probability_label, save_panel
    from attribkit.render._notebook import finite

    from attribkit.cli._usage import recipe_of

    photos, rows, failures = batch_from_args(args, "localise")
    recipe = recipe_of(args)  # resolved once, by the usage check
    args.method, args.localiser = recipe.attributor, recipe.localiser
    options = dict(recipe.options)
    out = output_dir(args.out)
    report = JsonReport(args.json, command="localise", method=args.method, localiser=args.localiser,
                        preset=recipe.preset, options=options)
    model = model_from_args(args)
    target = None if args.target is None else class_indices(model, [args.target])[0]
    per_photo = class_targets(model, rows, args.targets)
    suffix = ("" if args.preset == "default" else f"_{slug(args.preset)}") + averaging_suffix(options)
    model_part = model_suffix(args.model, args.weights)
    stems = photo_names(photos)  # distinct photos never share a file (a/x.jpg, b/x.jpg, x.png)
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
                                     recipe=recipe)
        rgb = image.rgb
        legend = box_legend(legend_labels(results, probability_label))
        drawn = draw_boxes(rgb, [None if r.box is None else image.geometry.from_source(r.box) for r in results],
                           mask=results[0].mask, scores=[r.score for r in results], seen=seen_region(image))
        stem = stems[path]
        png = out / f"{stem}_{slug(args.method)}_{slug(args.localiser)}{suffix}{model_part}.png"
        save_panel(png, [drawn, overlay(rgb, finite(results[0].saliency))],
                   [f"{args.method} + {args.localiser}: boxes, mask of {results[0].name}",
                    f"{args.method} map of {results[0].name}"],
                   suptitle=path.name, size=4.5, legends=[legend, None],
                   caption=panel_caption(image, len(results), TOP_K_CAPTION))
        classes = []
        for r in results:
            box = "\t".join(str(v) for v in r.box) if r.box is not None else "\t\t\t"
            print(f"{path}\t{png}\t{r.label}\t{r.name}\t{r.score:.3f}\t{box}")
            if r.fallback is not None:
                print(f"attribkit localise: {path.name}, {r.name}: the box is the localiser's fallback "
                      f"({r.fallback}), not a localisation", file=sys.stderr)
            files = {"panel": str(png)}
            if args.save_maps:
                files.update(save_maps_of(out / f"{stem}_{slug(r.name)}_{slug(args.method)}{suffix}{model_part}_map",
                                          r.saliency))
            classes.append({"label": r.label, "name": r.name, "score": r.score,
                            "box": None if r.box is None else list(r.box), "fallback": r.fallback, **files})
        report.photo(path, classes)
    report.write()
    return 1 if failures else 0


def legend_labels(results, probability_label) -> list[str]:  # type: ignore[no-untyped-def]
    """The legend lines of a panel (:func:`attribkit.localisation._display.legend_labels`, imported on use:
    ``attribkit --help`` imports this module and must not import torch)."""
    from attribkit.localisation._display import legend_labels as labels

    return labels(results, probability_label)
