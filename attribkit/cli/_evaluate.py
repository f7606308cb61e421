"""``attribkit evaluate --data DIR_OR_JSON --out DIR``: the localisation metrics table (CSV + Markdown)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from attribkit.cli._common import CommandError, add_model_args, model_from_args, output_dir, progress
from attribkit.render import slug
from attribkit.cli._localise import parse_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="localisation metrics on annotated photos (ILSVRC XML or JSON)",
                       description="GT-known accuracy, top-1/top-5 localisation error (ILSVRC criterion), "
                                   "MaxBoxAcc and pointing game for each setting, on all photos and on each "
                                   "half; writes metrics.csv, metrics.md and example PNGs.")
    p.add_argument("--data", required=True, metavar="DIR_OR_JSON",
                   help="a boxes JSON file, an ILSVRC XML file or a directory of them")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--settings", default="standard",
                   help="'standard' (default, paper, threshold, centre), 'ablation' (every lever of "
                        "docs/localisation.md; slow), or one custom setting given by the options below")
    p.add_argument("--method", default=None, help="attributor for a custom setting (default saliency)")
    p.add_argument("--localiser", default=None, help="localiser for a custom setting")
    p.add_argument("--preset", default=None, help="preset for a custom setting (default: default)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of a custom setting (repeatable)")
    p.add_argument("--top-k", type=int, default=5, help="classes per photo for the top-k error (default 5)")
    p.add_argument("--limit", type=int, default=None, help="only the first N photos")
    p.add_argument("--examples", type=int, default=3, help="success and failure PNGs per setting (default 3)")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attribkit.study._evaluate import Row, Setting, markdown, run_settings, table
    from attribkit.study._settings import named_settings
    from attribkit.datasets import AnnotationError, read_annotations

    try:
        images = read_annotations(args.data)
    except AnnotationError as exc:
        raise CommandError(str(exc), status=2) from exc
    if args.limit is not None:
        images = images[: args.limit]
    custom = (args.method, args.localiser, args.preset)
    if any(c is not None for c in custom) or args.option:
        # Any of these options asks for one custom setting instead of a named list.
        method, localiser, preset = args.method or "saliency", args.localiser or "graphcut", args.preset or "default"
        settings = [Setting(f"{method}+{localiser} ({preset})", method, localiser, preset,
                            parse_options(args.option))]
    else:
        try:
            settings = named_settings(args.settings)
        except KeyError as exc:
            raise CommandError(str(exc), status=2) from exc
    out = output_dir(args.out)
    model = model_from_args(args)
    results = run_settings(model, images, settings, top_k=args.top_k,
                           progress=lambda xs: progress(xs, desc="evaluate", total=len(images)))
    rows = table(results)
    with open(out / "metrics.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(Row.COLUMNS)
        for r in rows:
            writer.writerow([getattr(r, c) for c in Row.COLUMNS])
    text = markdown(rows)
    (out / "metrics.md").write_text(text)
    print(text, end="")
    _examples(model, images, results, out, args.examples)
    print(out / "metrics.csv")
    print(out / "metrics.md")
    return 0


def _examples(model, images, results, out: Path, count: int) -> None:  # type: ignore[no-untyped-def]
    """The ``count`` best and worst photos of each setting, with truth (white) and answer drawn."""
    if count <= 0:
        return
    import numpy as np

    import attribkit
    from attribkit.study._evaluate import truth_iou
    from attribkit.render import draw_boxes, overlay, save_panel

    names = attribkit.model_info(model).class_names
    for setting, photos in results.items():
        order = np.argsort([truth_iou(r) for r in photos], kind="stable")
        picks = [("failure", i) for i in order[:count]] + [("success", i) for i in order[::-1][:count]]
        for kind, i in picks:
            r, item = photos[i], images[i]
            rgb = attribkit.read_rgb(item.path)[0]
            m = np.nan_to_num(r.map_on_photo, nan=float(np.nanmin(r.map_on_photo)))
            drawn = draw_boxes(rgb, [r.known_box], [names[r.truth_label]], truth=r.truth)
            save_panel(out / "examples" / f"{slug(setting)}_{kind}_{slug(item.path.stem)}.png",
                       [drawn, overlay(rgb, m)], [f"IoU {truth_iou(r):.2f}", "map of the true class"],
                       suptitle=f"{setting}: {item.path.name}", size=4.0)
