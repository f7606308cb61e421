"""Built-in plugin ``graphcut``: weakly supervised object localisation (Simonyan et al. 2013, section 4).

The localiser (:class:`GraphCut`) and the energy it minimises live here, with the plugin, and nowhere
else: the core knows neither its options nor its presets. ``_colour_model`` fits the Gaussian mixtures,
``_graph_cut`` builds and cuts the graph, ``_localiser`` turns a photo and its map into a mask and box.
"""

from __future__ import annotations

from attribkit.hookspecs import Registrar, hookimpl
from attribkit.methods.graphcut._localiser import GraphCut

__all__ = ["GraphCut", "attribkit_register"]


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_localiser(
        "graphcut",
        GraphCut,
        description="GMM colour models seeded by saliency quantiles + graph cut, largest component's box "
                    "(paper section 4)",
    )
