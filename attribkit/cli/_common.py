"""Options and helpers shared by the subcommands: argument groups, the usage checks made before a model
loads, and the one mapping from errors to exit statuses.

Nothing here imports torch at module level: ``attribkit --help`` builds every verb's parser from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from attribkit.errors import (
    AttribkitError,
    ModelError,
    OptionError,
    PluginError,
    TargetError,
    UnknownMethodError,
)

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

#: Exit statuses (the README's promise): 0 done, 1 failed, 2 bad usage, 130 interrupted.
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

#: Errors that mean the command line asked for something that does not exist or does not fit: a method,
#: localiser, preset or option that is unknown or out of range, a target or --top-k the model's classes
#: do not have, a model without weights. Every other error is a failure (1). One table, used by main().
USAGE_ERRORS: tuple[type[BaseException], ...] = (UnknownMethodError, OptionError, TargetError, ModelError)

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


class CommandError(Exception):
    """An error the command line reports in one line, with an exit status (2: bad usage)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


#: Everything ``main`` reports in one line with :func:`exit_status` (anything else is a bug: a traceback).
FAILURES: tuple[type[Exception], ...] = (
    CommandError, AttribkitError, ValueError, LookupError, OSError, RuntimeError, TypeError,
)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="efficientnet_lite0",
                        help="efficientnet_lite0 (default, bundled ImageNet weights), a torchvision "
                             "architecture (resnet50) or a timm one (timm:convnext_tiny); see `attribkit models`")
    parser.add_argument("--weights", default=None, metavar="FILE",
                        help="local weights for --model: state dict, checkpoint, .safetensors or TorchScript "
                             "(class count read from the file; nothing is downloaded)")
    parser.add_argument("--classes", dest="class_names_file", default=None, metavar="FILE",
                        help="class names, one per line in output order (default: the model's own)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if present)")


def add_target_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--target", default=None, metavar="CLASS",
                       help="class name or index to explain (default: the model's top-1)")
    group.add_argument("--top-k", type=int, default=None, metavar="K",
                       help="explain each image's K highest-scoring classes")


def device_from_args(args: argparse.Namespace) -> torch.device:
    import torch

    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        raise CommandError(f"bad --device {args.device!r}: {exc}", status=2) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda asked for, but no CUDA device is available", status=2)
    return device


def model_from_args(args: argparse.Namespace) -> torch.nn.Module:
    """The model ``--model``/``--weights`` name, on ``--device``; a usage error (2) for a ``--top-k`` larger
    than its number of classes (the one check that needs the model)."""
    from attribkit.models import load_model, model_info

    names_file = getattr(args, "class_names_file", None)
    model = load_model(args.model, weights=args.weights, classes=names_file).to(device_from_args(args))
    top_k = getattr(args, "top_k", None)
    classes = len(model_info(model).class_names)
    if top_k is not None and top_k > classes:
        raise CommandError(f"--top-k {top_k} is more than the {classes} classes of {args.model}; "
                           f"give 1 to {classes}", status=USAGE)
    return model


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["blur=0.03", "ten_crop=true", "scales=1,1.5"]`` → typed options (a usage error for a malformed one)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--option needs KEY=VALUE; got {item!r}", status=USAGE)
        out[key.strip()] = _value(text.strip())
    return out


def _value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if "," in text:
        return tuple(_value(t) for t in text.split(",") if t)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def existing_files(paths: list[str]) -> list[Path]:
    """The paths as ``Path``s; a usage error (exit 2) naming every one that is not a file."""
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise CommandError(f"no such file: {', '.join(missing)}", status=2)
    return [Path(p) for p in paths]


def class_indices(model: torch.nn.Module, names: list[str]) -> list[int]:
    """Class names, WordNet ids or indices → indices (:func:`attribkit.resolve_targets` with the model's
    classes); a usage error (exit 2), listing close names, for an unknown one."""
    from attribkit.errors import TargetError
    from attribkit.models import model_info

    try:
        return model_info(model).targets([names], batch=1).index[0].tolist()
    except TargetError as exc:
        raise CommandError(str(exc), status=2) from exc


def output_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory", status=2)
    out.mkdir(parents=True, exist_ok=True)
    return out


def slug(text: str) -> str:
    """:func:`attribkit.render.slug`, imported when called: the verbs' parsers must not import torch."""
    from attribkit.render import slug as _slug

    return _slug(text)


def progress(items: Iterable[T], *, desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, unit="img", disable=None, leave=False)


# -- usage checks, made before the model loads and before --out is created ---------------------------

def check_usage(args: argparse.Namespace) -> None:
    """Refuse, with :class:`CommandError` status 2, what can be known wrong before loading a model: an
    unknown method, localiser, preset or option, an option value of the wrong type or out of the
    localiser's range, ``--top-k`` below 1, a torchvision model without ``--weights``, a missing weights
    file. The registry knows names and options without a model (it loads only the plugins asked for).
    """
    top_k = getattr(args, "top_k", None)
    if top_k is not None and top_k < 1:
        raise CommandError(f"--top-k must be at least 1; got {top_k}", status=USAGE)
    if hasattr(args, "model") and hasattr(args, "weights"):
        _check_model(args.model, args.weights)
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
        _check_localise_options(registry, method or "saliency", localiser or "graphcut",
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
