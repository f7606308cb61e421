"""``attribkit class-model CLASS... --out DIR``: class model visualisations as PNGs (paper section 2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
                       description="Gradient ascent on the input, all classes in one batch; writes one PNG "
                                   "per class and mode and a montage. By default the paper's image (from "
                                   "the zero image, L2 penalty) and the Fourier-parametrised one (Olah et "
                                   "al. 2017) side by side, each titled with the model's probability for "
                                   "the class; --mode picks one.")
    p.add_argument("classes", nargs="+", metavar="CLASS", help="ImageNet class name or index")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--mode", default=None, choices=("fourier", "paper", "yosinski"),
                   help="only this mode: paper (the paper's L2-regularised ascent), yosinski (+ jitter, blur "
                        "and clipping, Yosinski et al. 2015) or fourier (decorrelated Fourier image, Olah et "
                        "al. 2017); default: paper and fourier side by side")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="ascent steps (default: the mode's)")
    p.add_argument("--l2", type=float, default=None, metavar="λ", help="L2 penalty weight (default: the mode's)")
    p.add_argument("--lr", type=float, default=None, help="step size (default: the mode's)")
    p.add_argument("--jitter", type=int, default=None, metavar="PX", help="random shift per step (pixels)")
    p.add_argument("--tv", type=float, default=None, help="total-variation penalty weight")
    p.add_argument("--seed", type=int, default=0)
    add_model_args(p)
    p.set_defaults(func=run)


def save_class_models(
    rgb: torch.Tensor, names: list[str], out: Path, *, tag: str, captions: list[str], suptitle: str,
    with_montage: bool = True,
) -> list[Path]:
    """One bare PNG per image (``<name>_<tag>.png``) and (``with_montage``) the captioned
    ``montage_<tag>.png``."""
    from PIL import Image

    from attribkit.render import to_uint8_rgb

    paths = []
    for image, name in zip(rgb, names):
        path = out / f"{slug(name)}_{tag}.png"
        Image.fromarray(to_uint8_rgb(image)).save(path)
        paths.append(path)
    if not with_montage:
        return paths
    return [*paths, montage(out / f"montage_{tag}.png", rgb, captions, suptitle=suptitle)]


def montage(path: Path, rgb: torch.Tensor, captions: list[str], *, suptitle: str,
            muted: list[bool] | None = None, caption: str | None = None) -> Path:
    """The images in rows of four, each captioned (captions of low probability greyed)."""
    from attribkit.render import save_panel

    return save_panel(path, list(rgb.cpu()), captions, columns=min(len(captions), 4), suptitle=suptitle,
                      size=2.6, muted=muted or False, caption=caption)


#: The modes ``attribkit class-model`` shows side by side by default: the paper's and the modern one.
COMPARED = ("paper", "fourier")

#: What the side-by-side montage shows, in one line.
COMPARISON_CAPTION = ("paper: gradient ascent on the pixels from the zero image (Simonyan et al. 2013); "
                      "Fourier: a decorrelated Fourier image (Olah et al. 2017); p: the model's probability "
                      "for the image shown")

#: How each mode is named in a caption.
MODE_TITLES = {"paper": "paper", "fourier": "Fourier", "yosinski": "Yosinski"}


def side_by_side(model: torch.nn.Module, ascents: dict[str, Ascent], path: Path) -> Path:
    """One montage with each class's images of every mode next to each other, each captioned with the
    mode and the model's probability for the displayed image (two classes per row of four)."""
    import torch

    from attribkit.render import is_low

    modes = list(ascents)
    captioned = {mode: captions(model, a, with_probs=True) for mode, a in ascents.items()}
    images, caps, muted = [], [], []
    for k in range(len(ascents[modes[0]].targets)):
        for mode in modes:
            _, mode_caps, probs = captioned[mode]
            images.append(ascents[mode].rgb[k].cpu())
            caps.append(f"{MODE_TITLES.get(mode, mode)}: {mode_caps[k]}")
            muted.append(is_low(probs[k]))
    settings = "; ".join(describe(a, mode) for mode, a in ascents.items()).replace("class models, ", "")
    return montage(path, torch.stack(images), caps, suptitle=f"class models — {settings}", muted=muted,
                   caption=COMPARISON_CAPTION)


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


def captions(model: torch.nn.Module, ascent: Ascent, *, with_probs: bool = False) -> Any:
    """File names and montage captions: each class with the model's probability for the displayed image
    (and, ``with_probs``, those probabilities). Names are cut to fit a 2.6-inch caption."""
    import attribkit

    info = attribkit.model_info(model)
    probs = classify(model, ascent.rgb)
    names, caps, shown = [], [], []
    for k, t in enumerate(ascent.targets.tolist()):
        names.append(f"{t:03d} {info.class_names[t]}")
        top = int(probs[k].argmax())
        verdict = "top-1" if top == t else f"top-1: {_short(info.class_names[top], 12)}"
        caps.append(f"{_short(info.class_names[t], 18)}\np={probs[k, t]:.2f} ({verdict})")
        shown.append(float(probs[k, t]))
    return (names, caps, shown) if with_probs else (names, caps)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def classify(model: torch.nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    """``[K, classes]`` softmax of the model on displayable images (what a viewer of the PNG sees)."""
    import torch

    import attribkit

    with torch.no_grad():
        return model(attribkit.model_info(model).preprocessing.normalise(rgb)).softmax(1).cpu()


def run(args: argparse.Namespace) -> int:
    from attribkit.cli._outputs import model_suffix

    if args.steps is not None and args.steps < 1:
        raise CommandError(f"--steps must be >= 1; got {args.steps}", status=2)
    tuned = [f"--{k}" for k in ("l2", "lr", "jitter", "tv") if getattr(args, k) is not None]
    if args.mode is None and tuned:
        # The modes' settings differ by orders of magnitude (lr 10 for the paper's SGD, 0.05 for Adam);
        # only --steps means the same to both.
        raise CommandError(f"{', '.join(tuned)} tune one mode: give --mode too", status=2)
    model = model_from_args(args)
    targets = class_indices(model, args.classes)
    out = output_dir(args.out)
    ascents = {}
    for mode in COMPARED if args.mode is None else (args.mode,):
        try:
            vis = class_model(model, mode=mode, seed=args.seed, steps=args.steps, l2=args.l2, lr=args.lr,
                              jitter=args.jitter, tv=args.tv)
        except ValueError as exc:
            raise CommandError(str(exc), status=2) from exc
        ascents[mode] = vis.ascend(targets)
    model_part = model_suffix(args.model, args.weights)  # runs with other models never overwrite these
    for mode, ascent in ascents.items():
        names, caps = captions(model, ascent)
        for path in save_class_models(ascent.rgb.cpu(), names, out, tag=f"{mode}{model_part}", captions=caps,
                                      suptitle=describe(ascent, mode), with_montage=args.mode is not None):
            print(path)
    if args.mode is None:
        print(side_by_side(model, ascents, out / f"montage{model_part}.png"))
    return 0
