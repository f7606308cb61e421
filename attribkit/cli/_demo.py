"""``attribkit demo --out DIR``: the main job on real photos that ship with installed packages.

Each demo step is a function ``step(model, photos, out, tag) -> list[Path]``, ``tag`` the model's part of
its file names (:func:`~attribkit.cli._outputs.model_suffix`); ``DEMO_STEPS`` runs in order.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from typing import TYPE_CHECKING

from attribkit.cli._common import CommandError, add_model_args, model_from_args, output_dir, progress
from attribkit.cli._common import slug
from attribkit.cli._outputs import model_suffix

if TYPE_CHECKING:  # torch stays unimported for `attribkit demo --help`
    import numpy as np
    import torch

Photos = dict[str, "np.ndarray"]
DemoStep = Callable[["torch.nn.Module", Photos, Path, str], list[Path]]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on bundled sample photos and write PNGs",
                       description="Saliency maps (the paper's, 10-crop and SmoothGrad), DeconvNet and "
                                   "guided backprop, localisation boxes and class models for the sample "
                                   "photos that ship with scikit-image, scikit-learn and matplotlib; no "
                                   "download.")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--photos", default=None,
                   help="comma-separated subset of: chelsea, coffee, astronaut, rocket, china, flower, "
                        "grace_hopper")
    p.add_argument("--steps", default=None,
                   help="comma-separated subset of the demo steps (default: all): "
                        + ", ".join(step_name(s) for s in DEMO_STEPS))
    add_model_args(p)
    p.set_defaults(func=run)


def step_name(step: DemoStep) -> str:
    return step.__name__.removesuffix("_step")


def saliency_step(model: torch.nn.Module, photos: Photos, out: Path, tag: str = "") -> list[Path]:
    """Photo, the paper's map (one gradient), its 10-crop average (the paper's display maps), SmoothGrad and
    an overlay, for each photo's top-1 class."""
    import attribkit
    from attribkit.cli._saliency import READING, SMOOTH_SAMPLES
    from attribkit.render import OVERLAY_BLUR, is_low, overlay, probability_label, save_panel

    plain_recipe, ten_recipe, smooth_recipe = (
        attribkit.Recipe(attributor="saliency", localiser=None, preset=None, options=options)
        for options in ({}, {"ten_crop": True}, {"smoothgrad": SMOOTH_SAMPLES}))
    written = []
    for name, rgb in progress(photos.items(), desc="saliency", total=len(photos)):
        plain = attribkit.saliency(model, rgb, recipe=plain_recipe)
        ten = attribkit.saliency(model, plain.image, target=plain.labels, recipe=ten_recipe)
        smooth = attribkit.saliency(model, plain.image, target=plain.labels, recipe=smooth_recipe)
        crop = plain.image.input_rgb
        path = out / f"{slug(name)}_saliency{tag}.png"
        save_panel(path, [crop, plain.maps[0], ten.maps[0], smooth.maps[0], overlay(crop, smooth.maps[0], blur=OVERLAY_BLUR)],
                   ["photo (model input)", "saliency |∂S_c/∂I|\n(paper: one gradient)",
                    "10-crop average\n(the paper's figures)", f"SmoothGrad\n({SMOOTH_SAMPLES} noisy copies)",
                    "overlay (SmoothGrad, blurred)"],
                   suptitle=f"{name}: {plain.names[0]}, {probability_label(plain.scores[0])}",
                   muted=is_low(plain.scores[0]), caption=READING)
        written.append(path)
    return written


def deconvnet_step(model: torch.nn.Module, photos: Photos, out: Path, tag: str = "") -> list[Path]:
    """Saliency | DeconvNet | guided backprop side by side (paper section 5) for two photos' top-1 class."""
    import attribkit
    from attribkit.cli._saliency import method_caveat
    from attribkit.render import probability_label, save_panel

    methods = {name: attribkit.create_attributor(name, model)
               for name in ("saliency", "deconvnet", "guided_backprop")}
    chosen = [n for n in ("chelsea", "coffee") if n in photos] or list(photos)[:2]
    written = []
    for name in progress(chosen[:2], desc="deconvnet"):
        image = attribkit.load_image(photos[name], model)
        found = [attribkit.saliency(model, image, method=a) for a in methods.values()]
        path = out / f"{slug(name)}_deconvnet{tag}.png"
        save_panel(path, [image.input_rgb, *(f.maps[0] for f in found)],
                   ["photo (model input)", "saliency (gradient)", "DeconvNet", "guided backprop"],
                   suptitle=f"{name}: {found[0].names[0]}, {probability_label(found[0].scores[0])} — "
                            "max_c |.| of each backward signal",
                   caption=method_caveat("deconvnet", model))
        written.append(path)
    return written


def localisation_step(model: torch.nn.Module, photos: Photos, out: Path, tag: str = "") -> list[Path]:
    """Boxes of the top-1 class (default pipeline, paper preset, centre box) drawn on each photo."""
    import attribkit
    from attribkit.render import box_legend, draw_boxes, probability_label, save_panel

    # Three recipes, each resolved once for every photo.
    default, paper_recipe, centre_recipe = (attribkit.Recipe(), attribkit.Recipe(preset="paper"),
                                            attribkit.Recipe(localiser="centre"))
    written = []
    for name, rgb in progress(photos.items(), desc="localise", total=len(photos)):
        image = attribkit.load_image(rgb, model)
        (best,) = attribkit.localise(model, image, recipe=default)
        (paper,) = attribkit.localise(model, image, target=best.label, recipe=paper_recipe)
        (centre,) = attribkit.localise(model, image, target=best.label, recipe=centre_recipe)
        path = out / f"{slug(name)}_localisation{tag}.png"
        shown = [None if r.box is None else image.geometry.from_source(r.box) for r in (best, paper, centre)]
        save_panel(path, [draw_boxes(image.rgb, [shown[0]], mask=best.mask),
                          draw_boxes(image.rgb, [shown[1]], mask=paper.mask),
                          draw_boxes(image.rgb, [shown[2]])],
                   ["default: Grad-CAM + threshold box", "paper: 10-crop gradient + GraphCut", "centre box (blind baseline)"],
                   legends=[box_legend([f"{best.name}: {_box_text(best.box)}"]),
                            box_legend([f"{paper.name}: {_box_text(paper.box)}"]),
                            box_legend([f"centre box: {_box_text(centre.box)}"])],
                   suptitle=f"{name}: {best.name}, {probability_label(best.score)}", size=4.0,
                   caption=LOCALISATION_CAPTION)
        written.append(path)
    return written


#: What the tint and the box of a localisation panel are (paper section 4), for a reader new to the method.
LOCALISATION_CAPTION = ("tint: the foreground (default: Grad-CAM above 20% of its range; paper: the GraphCut "
                        "segment seeded by the 10-crop gradient map, which on this model often takes background: "
                        "docs/paper.md); box: around its largest connected part; "
                        "centre box: the same box for every photo")


def _box_text(box: tuple[int, int, int, int] | None) -> str:
    return "no box" if box is None else f"({box[0]}, {box[1]})–({box[2]}, {box[3]})"


#: The eight classes of the class-model montage (several are in the paper's figure 1).
DEMO_CLASSES = ["goose", "ostrich", "limousine", "washer", "computer keyboard", "kit fox", "dalmatian",
                "lemon"]


def class_model_step(model: torch.nn.Module, photos: Photos, out: Path, tag: str = "") -> list[Path]:
    """One montage of eight class models: the paper's ascent and the Fourier one (Olah et al. 2017) beside
    it, each captioned with the model's probability for the displayed image."""
    from attribkit.cli._class_model import COMPARED, class_model, side_by_side

    ascents = {mode: class_model(model, mode=mode).ascend(DEMO_CLASSES) for mode in COMPARED}
    return [side_by_side(model, ascents, out / f"class_models{tag}.png")]


DEMO_STEPS: list[DemoStep] = [saliency_step, deconvnet_step, localisation_step, class_model_step]


def run(args: argparse.Namespace) -> int:
    from attribkit.data import SAMPLE_PHOTOS, sample_photo

    names = list(SAMPLE_PHOTOS) if args.photos is None else [n.strip() for n in args.photos.split(",")]
    unknown = [n for n in names if n not in SAMPLE_PHOTOS]
    if unknown:
        raise CommandError(f"unknown sample photo(s) {', '.join(unknown)}; known: {', '.join(SAMPLE_PHOTOS)}", 2)
    steps = {step_name(s): s for s in DEMO_STEPS}
    wanted = list(steps) if args.steps is None else [n.strip() for n in args.steps.split(",")]
    if any(n not in steps for n in wanted):
        raise CommandError(f"unknown demo step in {args.steps!r}; known: {', '.join(steps)}", 2)
    photos = {n: sample_photo(n) for n in names}
    out = output_dir(args.out)
    model = model_from_args(args)
    tag = model_suffix(args.model, args.weights)
    for step in (steps[n] for n in wanted):
        for path in step(model, photos, out, tag):
            print(path)
    return 0
