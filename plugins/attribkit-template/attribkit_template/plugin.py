"""The module named by the ``template`` entry point: its hook implementations register the methods."""

from __future__ import annotations

import attribkit
from attribkit_template.methods import GradientXInput


@attribkit.hookimpl
def attribkit_register(registry: attribkit.Registrar) -> None:
    # Prefix names with the plugin's name so they never collide with a built-in by accident.
    registry.add_attributor(
        "template:gradient_x_input", GradientXInput, description="input x gradient (template plugin)"
    )
