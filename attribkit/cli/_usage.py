"""Usage checks made before the model loads and before ``--out`` exists, the one mapping from errors to
exit statuses, and the one-line messages (close names, hints at plugin distributions not installed)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attribkit.cli._common import (
    FAILED,
    USAGE,
    USAGE_ERRORS,
    CommandError,
    check_json_path,
    device_from_args,
    parse_options,
)
from attribkit.errors import OptionError, PluginError, UnknownMethodError

#: Plugin distributions shipped beside attribkit (``plugins/``), by the namespace of their method names:
#: (distribution, install line, bare method names). Used only to hint at what to install.
KNOWN_PLUGINS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "captum": ("attribkit-captum", "pip install ./plugins/attribkit-captum (from an attribkit checkout)",
               ("gradcam", "input_x_gradient", "integrated_gradients", "occlusion")),
}


def exit_status(exc: BaseException) -> int:
    """The exit status for an error that reached ``main`` (see :data:`USAGE_ERRORS`)."""
    if isinstance(exc, CommandError):
        return exc.status
    if isinstance(exc, PluginError):
        return FAILED  # a broken installation, not a misspelt command
    if isinstance(exc, USAGE_ERRORS):
        return USAGE
    return FAILED


def check_usage(args: argparse.Namespace) -> None:
    """Refuse, with :class:`CommandError` status 2, what can be known wrong before loading a model: an
    unknown method, localiser, preset or option, an option value of the wrong type or out of the
    localiser's range, ``--top-k`` below 1 (0 for a study), a torchvision model without ``--weights``, a missing weights
    file. The registry knows names and options without a model (it loads only the plugins asked for).
    """
    top_k = getattr(args, "top_k", None)
    least = getattr(args, "top_k_minimum", 1)  # a study may localise the annotated class alone (--top-k 0)
    if top_k is not None and top_k < least:
        raise CommandError(f"--top-k must be at least {least}; got {top_k}", status=USAGE)
    if hasattr(args, "model") and hasattr(args, "weights"):
        _check_model(args.model, args.weights)
    check_json_path(getattr(args, "json", None))
    if getattr(args, "device", "auto") != "auto":
        device_from_args(args)  # before --out exists: a device this machine lacks leaves nothing behind
    try:
        _check_methods(args)
    except USAGE_ERRORS as exc:
        raise CommandError(describe(exc), status=USAGE) from exc


def _check_model(name: str, weights: str | None) -> None:
    from attribkit.models._load import DEFAULT_MODEL, RANDOM, _family_of

    if weights is not None and weights != RANDOM and not Path(weights).is_file():
        raise CommandError(f"--weights {weights}: no such file", status=USAGE)
    if name == DEFAULT_MODEL:
        return
    _family_of(name)  # ModelError naming close names for an unknown model (exit 2), before any weights load
    if weights is None:
        raise CommandError(f"--model {name} has no weights bundled and attribkit never downloads: add "
                           f"--weights FILE (a local state dict, checkpoint, .safetensors or TorchScript "
                           f"file) or --weights random (untrained)", status=USAGE)


def _check_methods(args: argparse.Namespace) -> None:
    from attribkit import get_registry

    registry = get_registry()
    option_items = getattr(args, "option", None) or []
    options = parse_options(option_items)
    method = getattr(args, "method", None)
    localiser = getattr(args, "localiser", None)
    if isinstance(method, str):
        registry.get("attributor", method)
    for name in _names(getattr(args, "methods", None)):
        registry.get("attributor", name)
    for name in _names(getattr(args, "localisers", None)):
        registry.get("localiser", name)
    if isinstance(localiser, str) or (hasattr(args, "localiser") and getattr(args, "preset", None)):
        from attribkit.localisation._presets import pipeline

        chosen = pipeline(getattr(args, "preset", None))
        _check_localise_options(registry, method or chosen.attributor, localiser or chosen.localiser,
                                getattr(args, "preset", None), options)
    elif isinstance(method, str):
        from attribkit.attribution import AVERAGING_OPTIONS

        reg = registry.get("attributor", method)
        own = {k: v for k, v in options.items() if k not in AVERAGING_OPTIONS}
        reg.check_options(own, also=AVERAGING_OPTIONS)
        check_values(reg, own)
        check_averaging({k: v for k, v in options.items() if k in AVERAGING_OPTIONS})


class _Probe:
    """An attributor that is never called: the averaging wrappers check their options when built."""

    def __init__(self) -> None:
        import torch

        self.model = torch.nn.Identity()

    def attribute(self, inputs: Any, target: Any = None) -> Any:  # pragma: no cover - never called
        raise NotImplementedError


def check_averaging(options: Mapping[str, Any]) -> None:
    """:class:`~attribkit.errors.OptionError` for an averaging option out of its range (``smoothgrad=abc``,
    ``noise=-1``), found by building the wrappers around a probe, before any model exists."""
    if not options:
        return
    from attribkit.attribution import with_averaging

    try:
        with_averaging(_Probe(), **options)  # type: ignore[arg-type]
    except OptionError:
        raise
    except (ValueError, TypeError) as exc:
        raise OptionError(f"bad averaging option: {exc}") from exc


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _check_localise_options(registry: Any, method: str, localiser: str, preset: str | None,
                            options: Mapping[str, Any]) -> None:
    from attribkit.localisation._presets import resolve_options

    registry.get("attributor", method)
    reg = registry.get("localiser", localiser)
    maps, loc = resolve_options(preset, localiser, options, attributor=method)
    from attribkit.attribution import AVERAGING_OPTIONS

    check_averaging({k: v for k, v in maps.items() if k in AVERAGING_OPTIONS})
    check_values(reg, {k: v for k, v in loc.items() if k in options})
    try:  # a localiser needs no model: build it now, so its own range checks speak before the model loads
        reg.create(**loc)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, OptionError):
            raise
        raise OptionError(f"bad option for localiser {localiser!r}: {exc}") from exc


def check_values(registration: Any, options: Mapping[str, Any]) -> None:
    """:class:`~attribkit.errors.OptionError` for an option value whose type does not fit the factory's
    annotation (``blur=abc`` for a ``float``), naming the option, the method and the type taken."""
    types = option_types(registration.factory)
    for key, value in options.items():
        expected = types.get(key)
        if expected is not None and not _fits(value, expected):
            names = " or ".join(t.__name__ if t is not type(None) else "none" for t in expected)
            raise OptionError(f"option {key}={value!r} of {registration.kind} {registration.name!r}: "
                              f"takes {names}")


def option_types(factory: Any) -> dict[str, tuple[type, ...]]:
    """The plain types (bool, int, float, str, None) each keyword of ``factory`` is annotated with; options
    annotated otherwise (or not at all) are left out, so they are not checked."""
    import inspect
    import types as _types
    import typing

    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        return {}
    plain = (bool, int, float, str, type(None))
    out: dict[str, tuple[type, ...]] = {}
    for key, hint in hints.items():
        members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _types.UnionType) else (hint,)
        if members and all(m in plain for m in members):
            out[key] = tuple(members)
    return out


def _fits(value: Any, expected: tuple[type, ...]) -> bool:
    import numbers

    for t in expected:
        if t is type(None) and value is None:
            return True
        if t is bool and isinstance(value, bool):
            return True
        if t is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return True
        if t is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return True
        if t is str and isinstance(value, str):
            return True
    return False


def describe(exc: BaseException) -> str:
    """The one-line message for ``exc``, with a hint at a plugin distribution that is not installed when
    an unknown method's namespace (``captum:gradcam``) or bare name (``gradcam``) belongs to one."""
    message = str(exc)
    if isinstance(exc, UnknownMethodError):
        hint = plugin_hint(exc.name)
        if hint:
            message = f"{message} {hint}"
    return " ".join(message.split())


def plugin_hint(name: str) -> str:
    from attribkit import get_registry

    installed = get_registry().distributions
    namespace, sep, bare = name.rpartition(":")
    for ns, (dist, install, methods) in KNOWN_PLUGINS.items():
        if ns in installed:
            continue
        if sep and namespace == ns:
            return f"{name!r} comes from the {dist} plugin, which is not installed: {install}."
        if not sep and bare in methods:
            return (f"{ns}:{bare} is provided by the {dist} plugin, which is not installed: {install}.")
    return ""
