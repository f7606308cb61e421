"""``attribkit saliency IMAGE... --out DIR``: the paper's saliency maps as PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from attribkit.cli._common import (
    add_model_args,
    add_target_args,
    class_indices,
    existing_files,
    model_from_args,
    output_dir,
    progress,
)
from attribkit.cli._localise import parse_options
from attribkit.cli._common import slug


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("saliency", help="saliency maps for photos (paper section 3)",
                       description="Write a panel (photo, saliency map, overlay) and the bare map for each "
                                   "image and target class.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--method", default="saliency",
                   help="attributor to use (see `attribkit plugins`; default: saliency)")
    p.add_argument("--ten-crop", action="store_true", help="average over 10 crops and flips (the paper's display maps)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an averaging option (smoothgrad=25, vargrad=25, noise=0.15, scales=0.75,1,1.5, "
                        "crop_fraction=0.875) or the method's own (repeatable)")
    add_target_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import attribkit
    from attribkit.render import overlay, save_panel

    existing_files(args.images)
    options: dict[str, Any] = parse_options(args.option)
    if args.ten_crop:
        options["ten_crop"] = True
    out = output_dir(args.out)
    model = model_from_args(args)
    target = None if args.target is None else class_indices(model, [args.target])[0]
    # Build once (a bad method or option fails before any photo); every averaging wraps any method.
    attributor = attribkit.create_attributor(args.method, model, **options)
    failures = 0
    for path in progress(args.images, desc=args.method):
        try:
            maps = attribkit.saliency(model, path, target=target, top_k=args.top_k, method=attributor)
        except attribkit.ImageError as exc:
            print(f"attribkit saliency: skipping {exc}", file=sys.stderr)
            failures += 1
            continue
        crop = maps.image.input_rgb
        stem = slug(Path(path).stem)
        for cls, score, m in zip(maps.names, maps.scores, maps.maps):
            name = f"{stem}_{slug(cls)}_{slug(args.method)}"
            save_panel(out / f"{name}.png", [crop, m, overlay(crop, m)],
                       ["photo (model input)", f"{args.method} map", "overlay"],
                       suptitle=f"{Path(path).name}: {cls} (p={score:.2f})")
            print(out / f"{name}.png")
    return 1 if failures else 0
