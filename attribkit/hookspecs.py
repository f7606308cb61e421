"""The hook specifications of attribkit: the only module that declares hooks.

A plugin is any module or object with functions marked ``@attribkit.hookimpl`` whose names match the
specifications below. It is found through the entry-point group ``attribkit``::

    [project.entry-points.attribkit]
    my_method = "my_package.attribkit_plugin"

The built-in methods (``saliency``, ``deconvnet``, ``class_model``, ``graphcut``, ...) are registered the
same way, so a third-party plugin can replace any of them (see :func:`attribkit_register` for precedence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from attribkit._registry import Registrar

PROJECT_NAME = "attribkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def attribkit_register(registry: Registrar) -> None:
    """Register attributors, visualisers and localisers.

    Called once, when the registry is first used (never at import time), with a registrar on which the
    plugin calls :meth:`~attribkit.Registrar.add_attributor`,
    :meth:`~attribkit.Registrar.add_visualiser` and :meth:`~attribkit.Registrar.add_localiser`.

    Every implementation is called; the return value is ignored. pluggy calls implementations
    last-registered-first, and attribkit loads the built-in plugins before third-party ones, so a
    third-party plugin is called *before* the built-ins. When two plugins register the same kind and name,
    the first registration wins and a :class:`~attribkit.PluginConflictWarning` names both plugins: a
    third-party plugin therefore overrides a built-in. Mark an implementation ``tryfirst=True`` to win over
    other third-party plugins, or ``trylast=True`` to yield to them.
    """
