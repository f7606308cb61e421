"""``attribkit evaluate --data DIR_OR_JSON --out DIR``: the localisation metrics table (CSV + Markdown), a
report over the study's records (resumable, shardable under torchrun)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from attribkit.cli._common import CommandError, add_model_args, model_from_args, output_dir
from attribkit.cli._study import add_device_use_args, check_numbers, skipped_status


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="localisation metrics on annotated photos (ILSVRC XML or JSON)",
                       description="GT-known accuracy, top-1/top-5 localisation error (ILSVRC criterion), "
                                   "MaxBoxAcc and pointing game for each setting, on all photos and on each "
                                   "half; writes metrics.csv, metrics.md, explorer.html and example PNGs. The "
                                   "per-photo "
                                   "results are a study's records (records/*.jsonl): run the same command "
                                   "again after an interruption and only what is missing is computed; under "
                                   "torchrun the photos are sharded across processes.")
    p.add_argument("--data", required=True, metavar="DIR_OR_JSON",
                   help="a boxes JSON file, an ILSVRC XML file or a directory of them")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--settings", default="standard",
                   help="'standard' (default, paper, threshold, centre), 'ablation' (every lever of "
                        "docs/localisation.md; slow), or one custom setting given by the options below")
    p.add_argument("--method", default=None, help="attributor for a custom setting (default saliency)")
    p.add_argument("--localiser", default=None, help="localiser for a custom setting")
    p.add_argument("--preset", default=None,
                   help="preset for a custom setting: default (the default), gradient, paper or none (no preset)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of a custom setting (repeatable)")
    p.add_argument("--top-k", type=int, default=5, help="classes per photo for the top-k error (default 5)")
    p.add_argument("--limit", type=int, default=None, help="only the first N photos")
    p.add_argument("--examples", type=int, default=3, help="success and failure PNGs per setting (default 3)")
    p.add_argument("--workers", type=int, default=0,
                   help="localiser processes beside the maps (default 0: in this process)")
    add_device_use_args(p)
    p.add_argument("--allow-outside-paths", action="store_true",
                   help="accept photo paths in the annotations that lead outside their folder")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from attribkit.data import AnnotationError, read_annotations
    from attribkit.study._data import annotated_images, class_of
    from attribkit.study._evaluate import evaluate
    from attribkit.cli._usage import recipe_of
    from attribkit.study._settings import named_settings

    check_numbers(args, {"--limit": 1, "--top-k": 0, "--examples": 0, "--workers": 0, "--map-batch": 1,
                         "--loader-workers": 0})
    try:
        entries = read_annotations(args.data, allow_outside=args.allow_outside_paths)
    except AnnotationError as exc:
        raise CommandError(str(exc), status=2) from exc
    if args.limit is not None:
        entries = entries[: args.limit]
    custom = recipe_of(args)  # one custom setting from --method/--localiser/--preset/--option, resolved
    if custom is not None:
        settings = [custom]
    else:
        settings = named_settings(args.settings)  # UnknownNameError: an OptionError, exit status 2
    out = output_dir(args.out)
    if args.device == "auto" and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        args.device = f"cuda:{os.environ['LOCAL_RANK']}"  # one GPU per torchrun process
    model = model_from_args(args)
    images = annotated_images(entries, lambda label: class_of(model, label))
    result = evaluate(model, images, settings=settings, out=out, top_k=args.top_k, workers=args.workers,
                      map_batch=args.map_batch, loader_workers=args.loader_workers,
                      precision=args.precision)
    if result is None:  # a rank other than 0 of a sharded run: rank 0 reports
        return 0
    print(result.files["markdown"].read_text(), end="")
    _examples(model, result, args.examples)
    print(result.files["csv"])
    print(result.files["markdown"])
    return skipped_status(result.skipped, "evaluate")


def _examples(model, result, count: int) -> None:  # type: ignore[no-untyped-def]
    """The ``count`` best and worst photos of each setting, with truth (white) and answer drawn.

    A picture already drawn (a resumed run) is not drawn again; the maps are recomputed for the pictured
    photos only (the records hold boxes, not maps).
    """
    import numpy as np
    import torch

    import attribkit
    from attribkit.localisation._maps import crop_maps, photo_saliency
    from attribkit.render import draw_boxes, overlay, save_panel
    from attribkit.study._evaluate import examples
    from attribkit.study._runner import make_plan

    names = attribkit.model_info(model).class_names
    picks = [p for p in examples(result, count)
             if not _example_path(result.out, p).is_file()]
    if not picks:
        return
    plan = make_plan(model, list({p.setting.name: p.setting for p in picks}.values()), top_k=0, batch=1)
    from attribkit._core.guards import model_device

    device = model_device(model)
    for pick in picks:
        r = pick.setting.resolve()
        chosen = plan.maps[r.map_label]
        loaded = attribkit.load_image(pick.image.read(), model)
        label = int(pick.record["target"] if "target" in pick.record else pick.image.label or 0)  # --top-k 0: none
        target = torch.tensor([[label]], device=device)
        crop = crop_maps(chosen.attributor, loaded.tensor.to(device), target)[0, 0].cpu().numpy()
        on_photo = photo_saliency(crop, loaded.geometry)
        m = np.nan_to_num(on_photo, nan=float(np.nanmin(on_photo)))
        # The record's box is in the kept copy's pixels (as the study computed it); the annotation's boxes
        # are in the photo file's, which differ for a photo above MAX_PHOTO_PIXELS.
        truth = [loaded.geometry.from_source(b) for b in pick.image.boxes]
        drawn = draw_boxes(loaded.rgb, [pick.record["box"]], [names[label]], truth=truth)
        iou = pick.record["iou"] or 0.0
        save_panel(_example_path(result.out, pick), [drawn, overlay(loaded.rgb, m)],
                   [f"IoU {iou:.2f}", "map of the true class"],
                   suptitle=f"{pick.setting.name}: {Path(str(pick.image.source)).name}", size=4.0)


def _example_path(out, pick):  # type: ignore[no-untyped-def]
    from attribkit.render import file_name  # distinct names for distinct settings and photos

    return out / "examples" / f"{file_name(pick.setting.name)}_{pick.kind}_{file_name(pick.image.name)}.png"
