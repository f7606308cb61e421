"""Options and helpers shared by the subcommands: argument groups, option parsing, files and folders,
the exit statuses and the errors that mean bad usage (checked in :mod:`attribkit.cli._usage`).

Nothing here imports torch at module level: ``attribkit --help`` builds every verb's parser from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from attribkit.errors import (
    AnnotationError,
    AttribkitError,
    ImageError,
    InputError,
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

class CommandError(AttribkitError):
    """An error the command line reports in one line, with an exit status (2: bad usage)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


#: The one table from the error tree to exit statuses (README, "Exit status"); the first family an error
#: belongs to decides. A :class:`CommandError` carries its own status.
#:
#: ========================================================  ======  ==============================
#: family                                                    status  meaning
#: ========================================================  ======  ==============================
#: ``PluginError``                                           1       a broken installation, not a misspelt command
#: ``UnknownMethodError``, ``OptionError`` (and its          2       bad usage: fix the command line
#: ``UnknownNameError``), ``TargetError``, ``ModelError``
#: ``ImageError``, ``AnnotationError``, ``InputError``       1       a photo, annotation or input that cannot be used
#: any other ``AttribkitError``; ``OSError``                 1       the run failed
#: ========================================================  ======  ==============================
EXIT_STATUSES: tuple[tuple[type[BaseException], int], ...] = (
    (PluginError, FAILED),
    (UnknownMethodError, USAGE), (OptionError, USAGE), (TargetError, USAGE), (ModelError, USAGE),
    (ImageError, FAILED), (AnnotationError, FAILED), (InputError, FAILED),
    (AttribkitError, FAILED),
    (OSError, FAILED),
)

#: Errors that mean the command line asked for something that does not exist or does not fit: a method,
#: localiser, preset or option that is unknown or out of range, a target or --top-k the model's classes
#: do not have, a model that cannot be loaded (the status-2 rows of :data:`EXIT_STATUSES`).
USAGE_ERRORS: tuple[type[BaseException], ...] = tuple(c for c, status in EXIT_STATUSES if status == USAGE)

#: What ``main`` reports in one line: the error tree, and ``OSError`` because the files a command names
#: (photos, --out, --json, --weights) are opened in many places and the OS's message already names the
#: file and the reason; wrapping every open() would only repeat it. Anything else is a bug: a traceback.
FAILURES: tuple[type[Exception], ...] = (AttribkitError, OSError)


def exit_status(exc: BaseException) -> int:
    """The exit status :data:`EXIT_STATUSES` gives ``exc``; :data:`FAILED` for anything outside the table."""
    if isinstance(exc, CommandError):
        return exc.status
    return next((status for family, status in EXIT_STATUSES if isinstance(exc, family)), FAILED)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="efficientnet_lite0",
                        help="efficientnet_lite0 (default, bundled ImageNet weights), a torchvision "
                             "architecture (resnet50) or a timm one (timm:convnext_tiny); see `attribkit models`")
    parser.add_argument("--weights", default=None, metavar="FILE",
                        help="local weights for --model: state dict, checkpoint, .safetensors or TorchScript "
                             "(class count read from the file; nothing is downloaded)")
    parser.add_argument("--classes", dest="class_names_file", default=None, metavar="FILE",
                        help="class names, one per line in output order (default: the model's own)")
    parser.add_argument("--output", default=None, metavar="INDEX|KEY",
                        help="where the class scores are in what the model returns, for a model returning a "
                             "tuple or dict (a TorchScript file, a Hugging Face model): an index (0) or a key "
                             "(logits); default: the model's own, or the tensor it returns")
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
    # torch.mps, torch.xpu, ...: a device type torch knows but this machine lacks fails only at .to().
    backend = getattr(torch, device.type, None)
    if device.type != "cpu" and callable(getattr(backend, "is_available", None)) and not backend.is_available():
        raise CommandError(f"--device {args.device}: no {device.type} device on this machine", status=2)
    count = getattr(backend, "device_count", None)
    if device.index is not None and callable(count) and device.index >= count():
        raise CommandError(f"--device {args.device}: this machine has {count()} {device.type} device(s)", status=2)
    return device


def check_json_path(path: str | None) -> None:
    """A usage error (exit 2) for a ``--json`` file that could not be written: found before the work, not
    after it. The nearest existing folder on its path must be a folder attribkit can create files in."""
    import os
    import tempfile

    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"--json {target} is a folder; give a file name", status=USAGE)
    if target.exists():
        if not os.access(target, os.W_OK):
            raise CommandError(f"--json {target}: the file is not writable", status=USAGE)
        return
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CommandError(f"--json {target}: {folder} is not a folder", status=USAGE)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CommandError(f"--json {target}: cannot write in {folder} ({exc.strerror or exc})", status=USAGE) from exc


def model_from_args(args: argparse.Namespace) -> torch.nn.Module:
    """The model ``--model``/``--weights`` name, on ``--device``; a usage error (2) for a ``--top-k`` larger
    than its number of classes (the one check that needs the model)."""
    from attribkit.models import load_model, model_info

    names_file = getattr(args, "class_names_file", None)
    model = load_model(args.model, weights=args.weights, classes=names_file,
                       output=output_selector(getattr(args, "output", None))).to(device_from_args(args))
    top_k = getattr(args, "top_k", None)
    classes = len(model_info(model).class_names)
    if top_k is not None and top_k > classes:
        raise CommandError(f"--top-k {top_k} is more than the {classes} classes of {args.model}; "
                           f"give 1 to {classes}", status=USAGE)
    return model


def output_selector(text: str | None) -> int | str | None:
    """``--output``: ``"0"`` → the index 0, ``"logits"`` → the key (what ``load_model(output=)`` takes)."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else text


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


def path_digest(path: str | Path, digits: int) -> str:
    """``digits`` hex digits of a hash of the file's resolved path: two files of one name in different
    folders get different digests, and the same file always the same."""
    import hashlib

    resolved = str(Path(path).resolve())
    return hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:digits]


def slug(text: str) -> str:
    """:func:`attribkit.render.slug`, imported when called: the verbs' parsers must not import torch."""
    from attribkit.render import slug as _slug

    return _slug(text)


def file_name(text: str) -> str:
    """:func:`attribkit.render.file_name` (distinct for distinct texts), imported when called."""
    from attribkit.render import file_name as _file_name

    return _file_name(text)


def progress(items: Iterable[T], *, desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, unit="img", disable=None, leave=False)
