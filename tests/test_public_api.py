"""The public surface: an explicit, sorted, complete ``__all__``."""

from __future__ import annotations

import inspect
import types

import attribkit


def test_all_is_sorted_and_unique():
    assert list(attribkit.__all__) == sorted(set(attribkit.__all__))


def test_all_is_complete():
    public = {
        name for name, value in vars(attribkit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(attribkit.__all__)


def test_every_public_function_and_class_is_documented():
    objects = {n: getattr(attribkit, n) for n in attribkit.__all__}
    missing = [
        n for n, obj in objects.items()
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not obj.__doc__
    ]
    assert missing == []
