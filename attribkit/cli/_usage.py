"""Usage checks made before the model loads and before ``--out`` exists, and the one-line messages (close
names, hints at plugin distributions not installed); the mapping from errors to exit statuses is
:data:`attribkit.cli._common.EXIT_STATUSES`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from attribkit.cli._common import (
    USAGE,
    USAGE_ERRORS,
    CommandError,
    check_json_path,
    device_from_args,
    parse_options,
)
from attribkit.errors import UnknownMethodError

#: Plugin distributions shipped beside attribkit (``plugins/``), by the namespace of their method names:
#: (distribution, install line, bare method names). Used only to hint at what to install.
KNOWN_PLUGINS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "captum": ("attribkit-captum", "pip install ./plugins/attribkit-captum (from an attribkit checkout)",
               ("gradcam", "input_x_gradient", "integrated_gradients", "occlusion")),
}


def check_usage(args: argparse.Namespace) -> None:
    """Refuse, with :class:`CommandError` status 2, what can be known wrong before loading a model: an
    unknown method, localiser, preset or option, an option value of the wrong type or out of its range
    (the verb's :class:`~attribkit.Recipe`, resolved here once), ``--top-k`` below 1 (0 for a study), a
    torchvision model without ``--weights``, a missing weights file. The registry knows names and options
    without a model (it loads only the plugins asked for).
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
    for name in _names(getattr(args, "methods", None)):
        registry.get("attributor", name)
    for name in _names(getattr(args, "localisers", None)):
        registry.get("localiser", name)
    recipe = recipe_of(args)
    if recipe is not None:
        recipe.resolve()  # every check of the library's own, once; the verb uses this resolution


def recipe_of(args: argparse.Namespace) -> Any:
    """The one :class:`~attribkit.Recipe` a verb's arguments ask for (``None`` for a verb or a command line
    without one: ``evaluate`` with a named list of settings, ``study``), built on the first call and kept
    on ``args``, so the usage check and the verb share one resolution."""
    if "recipe" in vars(args):
        return args.recipe
    recipe = _recipe(args)
    args.recipe = recipe
    return recipe


def _recipe(args: argparse.Namespace) -> Any:
    from attribkit.localisation import Recipe

    command = getattr(args, "command", None)
    options = parse_options(getattr(args, "option", None) or [])
    if command == "saliency":
        if getattr(args, "ten_crop", False):
            options["ten_crop"] = True
        return Recipe(attributor=args.method, localiser=None, preset=None, options=options)
    if command == "localise":
        return Recipe(attributor=args.method or "", localiser=args.localiser or "", preset=preset_of(args.preset),
                      options=options)
    if command == "evaluate" and (args.method or args.localiser or args.preset or options):
        # Any of these asks for one custom setting instead of a named list.
        preset = "default" if args.preset is None else preset_of(args.preset)
        recipe = Recipe(attributor=args.method or "", localiser=args.localiser or "", preset=preset,
                        options=options)
        # The row is named by what it computes: the preset's attributor and localiser filled in.
        return dataclasses.replace(
            recipe, name=f"{recipe.attributor}+{recipe.localiser} ({preset or 'no preset'})")
    return None


#: What ``--preset`` takes for ``Recipe(preset=None)``: no preset (plain maps, the localiser's own
#: defaults, saliency + GraphCut where none is named).
NO_PRESET_WORD = "none"


def preset_of(text: str | None) -> str | None:
    """``--preset none`` → ``None`` (no preset, as everywhere in the library); other names as given."""
    return None if text is not None and text.strip().lower() == NO_PRESET_WORD else text


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


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
