"""
Deletion and insertion curves
=============================

Deletion and insertion curves (Petsiuk et al. 2018) of the paper's saliency and of a random baseline: how
fast the class probability falls as the most salient pixels are removed, and rises as they are put back::

    python examples/faithfulness.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

import attribkit
from attribkit.data import sample_photo
from attribkit.metrics import deletion_curve, insertion_curve

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-out")
out.mkdir(parents=True, exist_ok=True)
model = attribkit.load_model()
image = attribkit.load_image(sample_photo("coffee"), model)
espresso = attribkit.model_info(model).class_index("espresso")

# %%
# Remove (deletion) or restore (insertion) pixels in the order of each map, 16 steps, and follow
# p(espresso). A faithful map makes the deletion curve fall fast and the insertion curve rise fast; the
# random map is the floor to beat.
fig = Figure(figsize=(10, 4))
axes = fig.subplots(1, 2)
for name in ("saliency", "random"):
    grads = attribkit.create_attributor(name, model).attribute(image.tensor, target=espresso)
    saliency = attribkit.saliency_map(grads)
    for ax, curve_fn in zip(axes, (deletion_curve, insertion_curve)):
        curve = curve_fn(model, image.tensor, saliency, espresso, steps=16)
        area = curve.auc().item()
        ax.plot(curve.fractions, curve.scores[0], label=f"{name} (AUC {area:.3f})")
        print(f"{name:8s} {curve_fn.__name__:16s} AUC {area:.3f}")
for ax, title in zip(axes, ("deletion (lower is better)", "insertion (higher is better)")):
    ax.set_title(title)
    ax.set_xlabel("fraction of pixels")
    ax.set_ylabel("p(espresso)")
    ax.legend()
fig.tight_layout()
fig.savefig(out / "coffee_faithfulness.png", dpi=100)
print(out / "coffee_faithfulness.png")
