"""
The paper's saliency beside Captum's methods
============================================

The gradient map of Simonyan et al. (section 3), attribkit's SmoothGrad around it, and four of Captum's
methods through the ``attribkit-captum`` bridge plugin, on one photo, for the same class. Run it as a plain
script (the plugin installed)::

    pip install -e plugins/attribkit-captum
    python examples/captum_bridge.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import attribkit
from attribkit.data import sample_photo
from attribkit.render import overlay, save_panel

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-out")
model = attribkit.load_model()
image = attribkit.load_image(sample_photo("chelsea"), model)

# title: (method, options). Options keep the example under a minute on a CPU; the defaults are the
# methods' usual settings. SmoothGrad is attribkit's wrapper, around any method.
methods = {
    "saliency": ("saliency", {}),
    "saliency + SmoothGrad": ("saliency", {"smoothgrad": 6}),
    "captum:input_x_gradient": ("captum:input_x_gradient", {}),
    "captum:integrated_gradients": ("captum:integrated_gradients", {"n_steps": 8}),
    "captum:occlusion": ("captum:occlusion", {"window": 48, "stride": 24}),
    "captum:gradcam": ("captum:gradcam", {}),  # default layer for EfficientNet-Lite0: "bn2"
}
missing = [m for m, _ in methods.values() if m not in attribkit.list_attributors()]
if missing:
    sys.exit(f"not registered: {', '.join(missing)} (pip install -e plugins/attribkit-captum)")

# %%
# One call per method: ``attribkit.saliency`` takes the method by its registered name, so a bridge
# plugin's methods are used exactly like the built-ins.
panels, titles = [image.input_rgb], ["photo (tiger cat)"]
for title, (name, options) in methods.items():
    maps = attribkit.saliency(model, image, target="tiger cat", method=name, **options)
    panels.append(overlay(image.input_rgb, maps.maps[0]))
    titles.append(title)
print(save_panel(out / "chelsea_captum_methods.png", panels, titles, columns=4))
