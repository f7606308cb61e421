"""
A new backward rule as a plugin
===============================

Write a new backward rule and register an attributor that uses it (a plugin author's view)::

    python examples/custom_rule.py [OUT_DIR]

The rule is RectGrad (Kim et al. 2019, "Why are saliency maps noisy? Cause of and solution to noisy
saliency maps"): at each rectifier, pass the backward signal only where the *importance* of a unit,
activation x signal, is in the top ``1 - q`` of that layer for that image. With ``q = 0`` and a threshold
of 0 it is guided backprop; raising ``q`` keeps only the strongest evidence.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import attribkit
from attribkit.data import sample_photo
from attribkit.render import save_panel
from attribkit.rules import Rule, RuleAttributor


# %%
# The rule: what a rectifier passes back. ``forward_switch`` keeps ReLU's own switch (the fused backward
# of PyTorch's ReLU needs it).


class RectGrad(Rule):
    """Pass ``grad_out`` where ``output * grad_out`` is above its per-image ``q``-quantile (and > 0)."""

    name = "rectgrad"

    def __init__(self, q: float = 0.9) -> None:
        if not 0.0 <= q < 1.0:
            raise ValueError(f"q must be in [0, 1); got {q}")
        self.q = q

    def rectifier_backward(self, grad_out: torch.Tensor, output: torch.Tensor, upper: float) -> torch.Tensor:
        importance = (output * grad_out).flatten(1)  # [N, units]: one threshold per image
        k = max(1, int(self.q * importance.shape[1]))
        threshold = importance.kthvalue(k, dim=1, keepdim=True).values.clamp(min=0)
        keep = (importance > threshold).view_as(grad_out)
        # forward_switch: PyTorch's fused ReLU/ReLU6 backward, so the forward switch is kept as well.
        return self.forward_switch(grad_out * keep, output, upper)


# %%
# The plugin: a factory and the ``attribkit_register`` hook. A packaged plugin declares this module as an
# entry point of the group ``attribkit``.


def rectgrad(model: torch.nn.Module, *, q: float = 0.9, **options) -> RuleAttributor:  # noqa: ANN003
    """Factory: the attributor is the gradient engine run under the rule (targets, top_k, 10-crop...)."""
    return RuleAttributor(model, rule=RectGrad(q), **options)


@attribkit.hookimpl
def attribkit_register(registry):  # noqa: ANN001, ANN201
    registry.add_attributor("rectgrad", rectgrad, description="RectGrad: importance-thresholded rule")


# %%
# Registered on a fresh registry and compared with the paper's gradient and guided backprop.

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-out")
    # A packaged plugin declares an entry point instead; a script can register itself on a fresh registry.
    registry = attribkit.build_registry([("rectgrad-example", sys.modules[__name__])])
    model = attribkit.load_model()
    image = attribkit.load_image(sample_photo("chelsea"), model)
    with torch.no_grad():
        cls = int(model(image.tensor).argmax())
    panels, titles = [image.input_rgb], ["photo"]
    for name, options in [("saliency", {}), ("guided_backprop", {}), ("rectgrad", {"q": 0.9})]:
        attributor = registry.get("attributor", name).factory(model, **options)
        m = attribkit.saliency_map(attributor.attribute(image.tensor, target=cls))[0]
        panels.append(m)
        titles.append(name)
    print(save_panel(out / "chelsea_custom_rule.png", panels, titles,
                     suptitle=f"a new backward rule: {attribkit.model_info(model).class_names[cls]}"))
