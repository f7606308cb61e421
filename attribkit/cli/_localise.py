"""``attribkit localise IMAGE... --out DIR``: boxes of the top-k classes drawn on each photo (paper section 4)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attribkit.cli._common import (
    add_model_args,
    add_target_args,
    class_indices,
    existing_files,
    model_from_args,
    output_dir,
    parse_options,
    progress,
)
from attribkit.cli._common import slug


def add_localiser_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="saliency",
                        help="attributor whose map seeds the localiser (see `attribkit plugins`; default: saliency)")
    parser.add_argument("--localiser", default="graphcut", help="graphcut (default), threshold, centre, ...")
    parser.add_argument("--preset", default="default", help="default (measured best) or paper (the paper read literally)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a map or localiser option, e.g. blur=0.03 or ten_crop=true (repeatable)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("localise", help="weakly supervised boxes from saliency (paper section 4)",
                       description="For each photo and each target class (default: the model's top-1; "
                                   "--top-k 5 for the paper's protocol): saliency map, localiser, and a PNG "
                                   "of the photo with the mask and boxes drawn on it.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    add_localiser_args(p)
    add_target_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import attribkit
    from attribkit.render import draw_boxes, overlay, save_panel

    existing_files(args.images)
    options = parse_options(args.option)
    out = output_dir(args.out)
    model = model_from_args(args)
    target = None if args.target is None else class_indices(model, [args.target])[0]
    failures = 0
    for path in progress(args.images, desc="localise"):
        try:
            results = attribkit.localise(model, path, target=target, top_k=args.top_k, attributor=args.method,
                                         localiser=args.localiser, preset=args.preset, **options)
        except attribkit.ImageError as exc:
            print(f"attribkit localise: skipping {exc}", file=sys.stderr)
            failures += 1
            continue
        rgb = attribkit.read_rgb(path)[0]
        names = [f"{r.name} {r.score:.2f}" for r in results]
        drawn = draw_boxes(rgb, [r.box for r in results], names, mask=results[0].mask)
        stem = slug(Path(path).stem)
        png = out / f"{stem}_{slug(args.localiser)}.png"
        save_panel(png, [drawn, overlay(rgb, _finite(results[0].saliency))],
                   [f"{args.method} + {args.localiser}", f"{args.method} map ({results[0].name})"],
                   suptitle=Path(path).name, size=4.5)
        for r in results:
            print(f"{png}\t{r.label}\t{r.name}\t{r.score:.3f}\t{r.box}")
    return 1 if failures else 0


def _finite(m):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.nan_to_num(m, nan=float(np.nanmin(m)) if np.isfinite(m).any() else 0.0)
