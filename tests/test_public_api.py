"""The public surface: an explicit, sorted, complete ``__all__``."""

from __future__ import annotations

import inspect
import types

import attribkit


def test_all_is_sorted_and_unique():
    assert list(attribkit.__all__) == sorted(set(attribkit.__all__))


def test_all_is_complete():
    # Names are imported on first use (PEP 562, for a torch-free `import attribkit`): resolve them all.
    for name in attribkit.__all__:
        getattr(attribkit, name)
    public = {
        name for name, value in vars(attribkit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(attribkit.__all__) and set(attribkit._LAZY) <= public


def test_every_public_function_and_class_is_documented():
    objects = {n: getattr(attribkit, n) for n in attribkit.__all__}
    missing = [
        n for n, obj in objects.items()
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not obj.__doc__
    ]
    assert missing == []


PUBLIC_PACKAGES = ["attribkit", "attribkit.attribution", "attribkit.localisation", "attribkit.data",
                   "attribkit.models", "attribkit.metrics", "attribkit.render", "attribkit.rules",
                   "attribkit.visualise", "attribkit.study", "attribkit.errors", "attribkit.hookspecs",
                   "attribkit.transformers"]


def test_public_objects_report_a_public_module():
    """``help()``, reprs and doc tools show where a user imports a name from, never a private module."""
    import importlib

    private = []
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                origin = obj.__module__
                if not origin.startswith("attribkit") or any(p.startswith("_") for p in origin.split(".")):
                    private.append(f"{package}.{name}: {origin}")
    assert private == []


def test_the_exception_tree():
    from attribkit import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        base = errors.AttribkitWarning if issubclass(cls, Warning) else errors.AttribkitError
        assert issubclass(cls, base), name
    # The built-in bases stay, so `except ValueError` callers keep working.
    assert issubclass(errors.TargetError, ValueError) and issubclass(errors.ImageError, ValueError)
    assert issubclass(errors.UnknownMethodError, LookupError) and issubclass(errors.PluginError, RuntimeError)
    assert issubclass(errors.OptionError, TypeError) and issubclass(errors.OptionError, ValueError)
