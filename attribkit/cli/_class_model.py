"""``attribkit class-model CLASS... --out DIR``: class model visualisations as PNGs (paper section 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from typing import TYPE_CHECKING

from attribkit.cli._common import (
    CommandError,
    add_model_args,
    class_indices,
    model_from_args,
    output_dir,
)
from attribkit.cli._common import slug

if TYPE_CHECKING:  # torch stays unimported for `attribkit class-model --help`
    import torch

    from attribkit.visualise import Ascent, ClassModel


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("class-model", help="images that maximise a class score (paper section 2)",
                       description="Gradient ascent on the input from the zero image, all classes in one "
                                   "batch; writes one PNG per class and a montage.")
    p.add_argument("classes", nargs="+", metavar="CLASS", help="ImageNet class name or index")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--mode", default="paper", choices=("fourier", "paper", "yosinski"),
                   help="paper (default): the paper's L2-regularised ascent; yosinski: + jitter, blur and "
                        "clipping (Yosinski et al. 2015); fourier: decorrelated Fourier image (Olah et al. 2017)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="ascent steps (default: the mode's)")
    p.add_argument("--l2", type=float, default=None, metavar="λ", help="L2 penalty weight (default: the mode's)")
    p.add_argument("--lr", type=float, default=None, help="step size (default: the mode's)")
    p.add_argument("--jitter", type=int, default=None, metavar="PX", help="random shift per step (pixels)")
    p.add_argument("--tv", type=float, default=None, help="total-variation penalty weight")
    p.add_argument("--seed", type=int, default=0)
    add_model_args(p)
    p.set_defaults(func=run)


def save_class_models(
    rgb: torch.Tensor, names: list[str], out: Path, *, tag: str, captions: list[str], suptitle: str
) -> list[Path]:
    """One bare PNG per image (``<name>_<tag>.png``) and the captioned ``montage_<tag>.png``."""
    from PIL import Image

    from attribkit.render import to_uint8_rgb

    paths = []
    for image, name in zip(rgb, names):
        path = out / f"{slug(name)}_{tag}.png"
        Image.fromarray(to_uint8_rgb(image)).save(path)
        paths.append(path)
    return [*paths, montage(out / f"montage_{tag}.png", rgb, captions, suptitle=suptitle)]


def montage(path: Path, rgb: torch.Tensor, captions: list[str], *, suptitle: str) -> Path:
    """The images in rows of four, each captioned."""
    from attribkit.render import save_panel

    return save_panel(path, list(rgb.cpu()), captions, columns=min(len(captions), 4), suptitle=suptitle,
                      size=2.6)


def class_model(model: torch.nn.Module, **options: object) -> ClassModel:
    """The registered ``class_model`` visualiser, which must be attribkit's :class:`ClassModel` here: the
    command's captions read its ascent record (settings, the classes' probabilities)."""
    import attribkit
    from attribkit.visualise import ClassModel

    vis = attribkit.create_visualiser("class_model", model, **options)
    if not isinstance(vis, ClassModel):
        raise CommandError(f"the registered 'class_model' visualiser is a {type(vis).__name__}, not attribkit's "
                           "ClassModel; this command needs the latter (use attribkit.create_visualiser in "
                           "Python for another)")
    return vis


def describe(ascent: Ascent, mode: str) -> str:
    s = ascent.settings
    return f"class models, {mode} mode: {s.steps} steps, lr={s.lr:g}, λ={s.l2:g}"


def captions(model: torch.nn.Module, ascent: Ascent) -> tuple[list[str], list[str]]:
    """File names and montage captions: each class with the model's probability for the displayed image."""
    import attribkit

    info = attribkit.model_info(model)
    probs = classify(model, ascent.rgb)
    names, caps = [], []
    for k, t in enumerate(ascent.targets.tolist()):
        names.append(f"{t:03d} {info.class_names[t]}")
        top = int(probs[k].argmax())
        verdict = "top-1" if top == t else f"top-1 {info.class_names[top][:14]}"
        caps.append(f"{info.class_names[t][:18]}\np={probs[k, t]:.2f} ({verdict})")
    return names, caps


def classify(model: torch.nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    """``[K, classes]`` softmax of the model on displayable images (what a viewer of the PNG sees)."""
    import torch

    import attribkit

    with torch.no_grad():
        return model(attribkit.model_info(model).preprocessing.normalise(rgb)).softmax(1).cpu()


def run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        raise CommandError(f"--steps must be >= 1; got {args.steps}", status=2)
    model = model_from_args(args)
    targets = class_indices(model, args.classes)
    out = output_dir(args.out)
    try:
        vis = class_model(model, mode=args.mode, seed=args.seed, steps=args.steps, l2=args.l2, lr=args.lr,
                          jitter=args.jitter, tv=args.tv)
    except ValueError as exc:
        raise CommandError(str(exc), status=2) from exc
    ascent = vis.ascend(targets)
    names, caps = captions(model, ascent)
    for path in save_class_models(ascent.rgb.cpu(), names, out, tag=args.mode, captions=caps,
                                  suptitle=describe(ascent, args.mode)):
        print(path)
    return 0
