"""The evidence behind the paper mode's defaults: λ and learning rate swept on the default model.

    python bench/class_model_defaults.py --out docs/images/class_model_defaults.png

For each (lr, λ) it runs the paper's ascent for the default number of steps on a few classes in one batch
and prints the final target score, whether the ascent's image I* and the displayed (clipped) RGB are the
model's top-1 for the class, and how much of the RGB is clipped; the PNG shows the displayed images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402

import attribkit  # noqa: E402
from attribkit.render import save_panel  # noqa: E402
from attribkit.visualise import MODES  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", default="goose,lemon")
    p.add_argument("--grid", default="300:1e-4,100:1e-4,30:1e-4,10:0,10:1e-4,10:1e-3,3:1e-4", help="lr:λ pairs")
    p.add_argument("--steps", type=int, default=MODES["paper"].steps)
    p.add_argument("--out", default="docs/images/class_model_defaults.png")
    args = p.parse_args()

    model = attribkit.load_model()
    pre = attribkit.model_info(model).preprocessing
    classes = args.classes.split(",")
    rows, images, titles = [], [], []
    for pair in args.grid.split(","):
        lr, l2 = (float(v) for v in pair.split(":"))
        vis = attribkit.create_visualiser("class_model", model, lr=lr, l2=l2, steps=args.steps, progress=False)
        ascent = vis.ascend(classes)
        with torch.no_grad():
            top_in = model(ascent.inputs).argmax(1)
            top_rgb = model(pre.normalise(ascent.rgb)).argmax(1)
        hit_in = (top_in == ascent.targets).sum().item()
        hit_rgb = (top_rgb == ascent.targets).sum().item()
        clipped = ((ascent.rgb <= 0) | (ascent.rgb >= 1)).float().mean().item()
        rows.append([f"{lr:g}", f"{l2:g}", f"{ascent.scores[-1].mean():.1f}", f"{hit_in}/{len(classes)}",
                     f"{hit_rgb}/{len(classes)}", f"{clipped:.0%}"])
        for k, name in enumerate(classes):
            images.append(ascent.rgb[k])
            titles.append(f"{name}: lr={lr:g} λ={l2:g}\nS_c={ascent.scores[-1, k]:.1f}"
                          f"{' (I* top-1)' if top_in[k] == ascent.targets[k] else ''}")
        print(f"done lr={lr:g} l2={l2:g}", file=sys.stderr, flush=True)
    print(f"paper mode, {args.steps} steps, classes {', '.join(classes)} (mean final S_c over classes)")
    print(table(rows, ["lr", "λ", "final S_c", "I* top-1", "RGB top-1", "RGB clipped"]))
    save_panel(args.out, images, titles, columns=len(classes),
               suptitle=f"paper mode after {args.steps} steps: the effect of lr and λ (displayed RGB)", size=2.6)
    print(args.out)


if __name__ == "__main__":
    main()
