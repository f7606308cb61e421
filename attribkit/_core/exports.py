"""Public names report where users import them from, not the private module that defines them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def publish(module: str, namespace: dict[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` of each re-exported class and function defined in a private attribkit module
    (a path with a ``_``-prefixed part) to the public ``module`` that re-exports it, so ``help()``,
    reprs and documentation tools show ``attribkit.localise``, not ``attribkit.localisation._pipeline``.
    Pickling still works: the public module holds the same object under the same name."""
    for name in names:
        obj = namespace[name]
        origin = getattr(obj, "__module__", None)
        if not isinstance(origin, str) or not origin.startswith("attribkit."):
            continue
        if any(part.startswith("_") for part in origin.split(".")) and getattr(obj, "__name__", None) == name:
            try:
                obj.__module__ = module
            except (AttributeError, TypeError):  # builtins and some typing constructs refuse it
                pass
