"""The core that knows no method: the interfaces, the registry, targets, boxes and model guards.

Nothing here imports another attribkit layer (only :mod:`attribkit.errors` and :mod:`attribkit.hookspecs`);
everything else builds on it. Public names are re-exported by :mod:`attribkit`.
"""
