"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")


class CommandError(Exception):
    """An error the command line reports in one line, with an exit status (2: bad usage)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


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
    from attribkit.models import load_model

    classes = getattr(args, "class_names_file", None)
    return load_model(args.model, weights=args.weights, classes=classes).to(device_from_args(args))


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


def progress(items: Iterable[T], *, desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, unit="img", disable=None, leave=False)
