"""The ``zennit`` plugin (entry point of group ``attribkit``): registers the ``zennit:*`` attributors.

Registration does not import Zennit: each factory imports its class when it is first built.
"""

from __future__ import annotations

from attribkit import Registrar, hookimpl
from attribkit.hookspecs import Deferred

_OPTIONS = ("epsilon", "stabilizer", "canonizer")

#: attribkit name -> (class in attribkit_zennit._methods, one-line description for ``attribkit plugins``,
#: the class's keyword options); a test keeps the options equal to the classes' signatures.
METHODS = {
    "zennit:epsilon_alpha2_beta1": ("ZennitEpsilonAlpha2Beta1", "Zennit LRP: alpha2-beta1 on conv, epsilon on dense",
                                    _OPTIONS),
    "zennit:epsilon_plus": ("ZennitEpsilonPlus", "Zennit LRP: z+ on conv, epsilon on dense", _OPTIONS),
    "zennit:epsilon_plus_flat": ("ZennitEpsilonPlusFlat", "Zennit LRP: flat first layer, z+ on conv, epsilon on dense",
                                 _OPTIONS),
}


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    for name, (class_name, description, options) in METHODS.items():
        registry.add_attributor(name, Deferred("attribkit_zennit._methods", class_name), description=description,
                                options=options)
