"""The ``attribkit`` command line. Each subcommand lives in its own module with ``add_parser``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

# Built-in subcommands, in the order ``attribkit --help`` lists them.
COMMANDS = (
    "attribkit.cli._saliency",
    "attribkit.cli._localise",
    "attribkit.cli._evaluate",
    "attribkit.cli._class_model",
    "attribkit.cli._plugins",
    "attribkit.cli._demo",
    "attribkit.cli._study",
    "attribkit.cli._samples",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attribkit",
        description="Explain PyTorch image classifiers (Simonyan, Vedaldi & Zisserman 2013).",
    )
    from attribkit import __version__  # the package imports nothing heavy (its public names are lazy)

    parser.add_argument("--version", action="version", version=f"attribkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 bad usage, 130 interrupted).

    Every :class:`~attribkit.errors.AttribkitError` (and ``OSError``) is reported in one line with the
    status :data:`~attribkit.cli._common.EXIT_STATUSES` gives its family; any other exception is a bug and
    propagates with its traceback. Usage errors (:data:`~attribkit.cli._common.USAGE_ERRORS`, checked in
    :mod:`attribkit.cli._usage`) are found before the model loads where the registry can tell, and leave no
    ``--out`` folder behind. Warnings print as one line each.
    """
    from attribkit.cli._common import FAILURES, INTERRUPTED, OK, exit_status
    from attribkit.cli._usage import describe

    parser = build_parser()
    args = parser.parse_args(argv)
    with _one_line_warnings():
        try:
            return _run(args)
        except BrokenPipeError:
            # `attribkit models | head`: the reader left; that is not an error. Keep Python's own flush quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return OK
        except KeyboardInterrupt:
            print("attribkit: interrupted", file=sys.stderr)
            return INTERRUPTED
        except FAILURES as exc:
            status = exit_status(exc)
            print(f"attribkit {args.command}: error: {describe(exc)}", file=sys.stderr)
            return status


def _run(args: argparse.Namespace) -> int:
    """The verb, after the usage check. An ``--out`` folder this run made and left empty (a usage error
    found after it was made, such as ``--top-k`` against the model's classes, or every photo failing) is
    removed again: a failed run leaves nothing behind."""
    from attribkit.cli._common import OK
    from attribkit.cli._usage import check_usage

    out = getattr(args, "out", None)
    out_existed = out is None or os.path.exists(out)
    try:
        check_usage(args)
        return int(args.func(args) or OK)
    finally:
        if out is not None and not out_existed:
            _remove_if_empty(out)


def _remove_if_empty(path: str) -> None:
    """``rmdir``: only an empty folder goes."""
    try:
        os.rmdir(path)
    except OSError:
        pass


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings as ``attribkit: PluginLoadWarning: ...`` on stderr, one line, without the source line
    Python adds."""
    import warnings

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        print(f"attribkit: {category.__name__}: {' '.join(str(message).split())}", file=file or sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
