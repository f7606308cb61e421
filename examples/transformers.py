"""
Every transformer method on one photo
=====================================

Attention rollout, attention flow, gradient rollout, LeGrad, Chefer et al.'s transformer attribution,
AttnLRP and CP-LRP beside the gradient and Grad-CAM, on one photo (the layout of docs/transformers.md)::

    python examples/transformers.py [OUT_DIR]

attribkit downloads nothing and no trained ViT ships with its dependencies, so the model is timm's ViT-S/16 with **random weights**: the
maps show what each method computes and where it puts it, not what a trained model looks at. With local
weights, ``attribkit.load_model("timm:vit_small_patch16_224", weights="vit_s16.safetensors")`` (or any timm /
Hugging Face classifier) runs the same lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import timm
import torch

import attribkit
from attribkit.data import sample_photo
from attribkit.render import overlay, save_panel

# %%
# A random-weight ViT-S/16 and a sample photo, cropped and normalised as the model expects.
out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-out")
torch.manual_seed(0)
model = timm.create_model("vit_small_patch16_224", pretrained=False).eval()
image = attribkit.load_image(sample_photo("chelsea"), model)

# %%
# The seven built-in transformer methods beside the gradient and Grad-CAM on the last block's norm; one
# class: the model's top-1.
transformer = ["rollout", "attention_flow", "gradient_rollout", "legrad", "chefer2021", "attnlrp", "cplrp"]
methods = ["saliency", "gradcam", *transformer]
panels, titles = [image.input_rgb], ["photo (224 crop)"]
for method in methods:
    maps = attribkit.saliency(model, image, method=method)
    panels.append(overlay(image.input_rgb, np.nan_to_num(maps.maps[0])))
    titles.append(method)
print(save_panel(out / "transformers_methods.png", panels, titles, columns=5, size=2.6,
                 suptitle="Transformer methods on one photo: timm ViT-S/16 with RANDOM weights",
                 caption="Random weights: the layout of each method's map, not what a trained ViT attends to."))
