"""Every exception and warning attribkit raises, under one base.

Catch :class:`AttribkitError` for anything attribkit refuses. Each class also derives from the built-in
exception the same fault would raise in plain Python (``ValueError``, ``LookupError``, ``RuntimeError``),
so code that catches ``except ValueError`` works too. This module imports nothing, so any layer (and any plugin)
can raise these without import cycles.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AnnotationError",
    "AttribkitError",
    "AttribkitWarning",
    "ImageError",
    "ImageWarning",
    "InputError",
    "ModelError",
    "ModelInUseError",
    "OptionError",
    "PluginConflictWarning",
    "PluginError",
    "PluginLoadWarning",
    "TargetError",
    "UnknownMethodError",
    "UnknownNameError",
    "UnsupportedActivationError",
    "UnsupportedActivationWarning",
]


class AttribkitError(Exception):
    """Base of every error attribkit raises on purpose (bad input, bad option, broken plugin)."""


class AttribkitWarning(UserWarning):
    """Base of every warning attribkit issues."""


class PluginError(AttribkitError, RuntimeError):
    """A plugin failed to import or raised while registering."""


class PluginConflictWarning(AttribkitWarning):
    """Two plugins registered the same kind and name; the first registration wins."""


class PluginLoadWarning(AttribkitWarning):
    """A plugin failed to import or to register: it is set aside, every other plugin keeps working, and
    asking for one of its methods raises :class:`PluginError`. ``ATTRIBKIT_STRICT_PLUGINS=1`` raises instead."""


def close_matches(name: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.7) -> list[str]:
    """The ``known`` names close to ``name`` (``difflib`` ratio at least ``cutoff``), best first; a
    namespaced name (``captum:gradcam``) is also compared by its part after the colon, so ``gradcam``
    finds it. The cutoff keeps suggestions to real misspellings: ``gradcam`` does not suggest ``random``."""
    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()

    bare = name.rpartition(":")[2]
    scored = []
    for k in dict.fromkeys(known):
        whole = ratio(name, k)
        scored.append((max(whole, ratio(bare, k.rpartition(":")[2])), whole, k))
    # Ties (gradcm ~ gradcam and captum:gradcam) go to the closer whole name, then alphabetically.
    return [k for score, _, k in sorted(scored, key=lambda s: (-s[0], -s[1], s[2])) if score >= cutoff][:n]


def did_you_mean(close: Iterable[str]) -> str:
    """``" Did you mean 'blur'?"`` for the close names (:func:`close_matches`), ``""`` for none: the one
    spelling of every suggestion attribkit makes."""
    close = list(close)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class UnknownMethodError(AttribkitError, LookupError):
    """No plugin registered the requested name.

    Attributes
    ----------
    kind, name
        What was asked for (``"attributor"``, ``"saliency"``).
    close_matches
        Registered names close to ``name`` (``difflib``), at most three.
    """

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        close = close_matches(name, known)
        hint = did_you_mean(close)
        super().__init__(
            f"unknown {kind} {name!r}.{hint} Registered {kind}s: {', '.join(known) or '(none)'}."
        )
        self.kind, self.name, self.close_matches = kind, name, close

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0])


class OptionError(AttribkitError, TypeError, ValueError):
    """An option a method does not accept, or a preset it does not have; an argument that says *how* to
    work (``steps``, ``batch_size``, ``order``, ``fractions``, ``blur``, ``out``) of the wrong type or out
    of its range.

    Both a ``TypeError`` (what Python raises for an unexpected keyword) and a ``ValueError`` (what a bad
    setting name is), so callers written against either keep working.
    """


class UnknownNameError(OptionError, KeyError):
    """A name that is not in a fixed list attribkit knows (a sample photo, a named set of study settings);
    the message lists the known ones. Also a ``KeyError``, what these look-ups raised before the tree."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class TargetError(AttribkitError, ValueError):
    """A ``target`` or ``top_k`` that does not fit the batch or the model's classes."""


class ImageError(AttribkitError, ValueError):
    """A file or array that is not a usable image."""


class InputError(AttribkitError, TypeError, ValueError):
    """Data given to work *on* that cannot be used: model inputs or class scores with NaN or infinite
    values (the message names the first bad position, e.g. ``input has NaN at [0, 2, 10, 31]``), a
    tensor, saliency map or box of the wrong type or shape, maps and inputs that do not match, an empty
    or clashing set of photos.

    Also a ``TypeError`` (an argument of the wrong type) and a ``ValueError`` (a wrong shape or value), as
    the checks it replaced raised.
    """


class ModelInUseError(AttribkitError, RuntimeError):
    """A nested :func:`~attribkit.frozen` would switch the mode of a model other threads are using."""


class ImageWarning(AttribkitWarning):
    """A photo that was read but is not quite right (damaged JPEG data, with ``corrupt="warn"``)."""


class ModelError(AttribkitError, TypeError, ValueError):
    """A model name or weights file that cannot be loaded, or a ``model`` that is not a usable classifier
    (not an ``nn.Module``, no classifier layer, outputs that are not class scores).

    Also a ``TypeError`` (what passing a non-module raised) and a ``ValueError`` (a bad name or file).
    """


class AnnotationError(AttribkitError, ValueError):
    """A missing, unreadable or malformed annotation file (the message names the file)."""


class UnsupportedActivationWarning(AttribkitWarning):
    """The model uses an activation (SiLU, GELU, ...) that a rule does not cover: it keeps its gradient."""


class UnsupportedActivationError(AttribkitError, RuntimeError):
    """Raised instead of :class:`UnsupportedActivationWarning` when ``unsupported="raise"``."""
