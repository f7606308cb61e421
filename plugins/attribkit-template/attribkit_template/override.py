"""Replacing a built-in: register under the built-in's name (``saliency``) from an entry point.

Not an entry point of this distribution (installing the template must not change ``saliency`` for
everyone); a plugin that means to replace a built-in declares it as one. Third-party entry points are
called before the built-ins, so this registration wins and attribkit warns with a
:class:`attribkit.PluginConflictWarning` naming both plugins.
"""

from __future__ import annotations

import attribkit
from attribkit_template.methods import GradientXInput


class TemplateSaliency(GradientXInput):
    """The template's method standing in for the built-in ``saliency``."""


@attribkit.hookimpl
def attribkit_register(registry: attribkit.Registrar) -> None:
    registry.add_attributor("saliency", TemplateSaliency, description="template's replacement for saliency")
