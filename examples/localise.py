"""
Weakly supervised localisation: top-5 boxes
===========================================

Weakly supervised localisation (paper section 4) on a sample photo: a box for each of the model's five
best classes with the default pipeline (Grad-CAM and a threshold box), and the paper's literal settings
(gradient map, GraphCut) for the top class::

    python examples/localise.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import attribkit
from attribkit.data import sample_photo
from attribkit.render import box_legend, draw_boxes, probability_label, save_panel


# %%
# ``attribkit.localise`` goes from a photo to boxes: the maps of the classes asked for, then the
# localiser on each; boxes are in the photo's own pixels.


def main(out: Path) -> None:
    model = attribkit.load_model()
    photo = sample_photo("coffee")
    # The paper's protocol: a box for each of the model's five best classes.
    results = attribkit.localise(model, photo, top_k=5)
    for r in results:
        print(f"{r.name:>20s}  p={r.score:.2f}  box={r.box}")
    # The same photo with the paper's literal settings, for comparison.
    (paper,) = attribkit.localise(model, photo, target=results[0].label, preset="paper")
    out.mkdir(parents=True, exist_ok=True)
    # Five boxes often nearly coincide: their labels go in a legend under the photo, never on top of each
    # other; classes the model hardly sees (p < 0.05) are greyed there.
    path = save_panel(out / "coffee_localisation.png",
                      [draw_boxes(photo, [r.box for r in results], mask=results[0].mask),
                       draw_boxes(photo, [paper.box], mask=paper.mask)],
                      ["default: top-5 boxes", "paper preset: top-1"], size=4.5,
                      legends=[box_legend([f"{r.name} {probability_label(r.score)}" for r in results]),
                               box_legend([paper.name])])
    print(path)


# %%
# Run it: five boxes with the default pipeline, one with the paper's settings.

if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/examples"))
