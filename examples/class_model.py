"""
Class models: the paper's ascent and a modern one
=================================================

Class model visualisation (paper section 2): ``argmax_I S_c(I) - lambda ||I||^2`` by gradient ascent from
the zero image, beside the decorrelated Fourier parametrisation of Olah et al. (2017), a few steps each::

    python examples/class_model.py [OUT_DIR]

Few steps keep this under a minute on a CPU; the defaults (``attribkit class-model goose --out DIR``) take
30-40 steps and give images the model classifies as their class (see the class-model guide).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import attribkit
from attribkit.render import save_panel

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
out.mkdir(parents=True, exist_ok=True)
model = attribkit.load_model()
classes = ["goose", "lemon"]

# %%
# Both visualisers ascend several classes in one batch; ``ascent.scores`` holds each class's score at
# every step.
images, titles = [], []
for name in ("class_model", "class_model_fourier"):
    # Every option of the mode can be overridden: here only the number of steps.
    visualiser = attribkit.create_visualiser(name, model, steps=8, seed=0)
    ascent = visualiser.ascend(classes)
    print(f"{name}: target scores {ascent.scores[0].tolist()} -> {ascent.scores[-1].tolist()}")
    images += list(ascent.rgb)
    titles += [f"{name}\n{c}" for c in classes]

# %%
# What the model makes of the images it was optimised to produce (few steps: far from converged).
with torch.no_grad():
    pre = attribkit.model_info(model).preprocessing
    probs = model(pre.normalise(torch.stack(images))).softmax(1)
print("p(target) of the displayed images:", [round(float(p), 3) for p in probs[:, [99, 951, 99, 951]].diag()])
print(save_panel(out / "class_model_example.png", images, titles, columns=4))
