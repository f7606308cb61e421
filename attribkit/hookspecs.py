"""The hook specifications of attribkit: the only module that declares hooks, and the :class:`Registrar`
protocol the registration hook receives. It imports nothing from the rest of attribkit (only pluggy), so
every layer can import it without a cycle.

A plugin is any module or object with functions marked ``@attribkit.hookimpl`` whose names match the
specifications below. It is found through the entry-point group ``attribkit``::

    [project.entry-points.attribkit]
    my_method = "my_package.attribkit_plugin"

The built-in methods (``saliency``, ``deconvnet``, ``class_model``, ``graphcut``, ...) are registered the
same way, so a third-party plugin can replace any of them (see :func:`attribkit_register` for precedence).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pluggy

PROJECT_NAME = "attribkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@runtime_checkable
class Registrar(Protocol):
    """What ``attribkit_register`` receives: the plugin calls its ``add_*`` methods.

    Every ``add_*`` takes the method's ``name`` and ``factory`` and, optionally:

    ``description``
        One line for ``attribkit plugins``.
    ``options``
        The option names the factory accepts (``None``: read them from the factory's signature). A
        misspelt option then fails with "unknown option 'blurr' for graphcut; known: ..." before the
        factory runs.
    ``presets``
        Named option sets (for example ``{"paper": {...}, "default": {...}}``) that
        ``attribkit.localise(..., preset=...)`` and the command line ask for by name; explicit options
        override them.
    """

    def add_attributor(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        options: Sequence[str] | None = None,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Register ``factory(model, **options) -> Attributor`` under ``name``."""
        ...

    def add_visualiser(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        options: Sequence[str] | None = None,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Register ``factory(model, **options) -> Visualiser`` under ``name``."""
        ...

    def add_localiser(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        options: Sequence[str] | None = None,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Register ``factory(**options) -> Localiser`` under ``name``."""
        ...


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


class Deferred:
    """A factory ``factory(model, **options)`` that imports ``module`` and builds its ``class_name`` on first
    use, so that registering a plugin's methods imports none of its heavy dependencies.

    Example
    -------
    >>> registry.add_attributor("captum:occlusion", Deferred("attribkit_captum._methods", "CaptumOcclusion"),
    ...                         options=("window", "stride"))  # doctest: +SKIP
    """

    def __init__(self, module: str, class_name: str) -> None:
        self.module, self.class_name = module, class_name

    def __call__(self, model: Any, **options: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(self.module), self.class_name)(model, **options)

    def __repr__(self) -> str:
        return f"{self.module.split('.')[0]}.{self.class_name}"
