"""The ``attribkit`` command line. Each subcommand lives in its own module with ``add_parser``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from attribkit.cli._common import CommandError

# Built-in subcommands, in the order ``attribkit --help`` lists them.
COMMANDS = (
    "attribkit.cli._saliency",
    "attribkit.cli._localise",
    "attribkit.cli._evaluate",
    "attribkit.cli._class_model",
    "attribkit.cli._plugins",
    "attribkit.cli._demo",
    "attribkit.cli._study",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attribkit",
        description="Explain PyTorch image classifiers (Simonyan, Vedaldi & Zisserman 2013).",
    )
    from attribkit import __version__

    parser.add_argument("--version", action="version", version=f"attribkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 bad usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"attribkit {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # `attribkit models | head`: the reader left; that is not an error. Keep Python's own flush quiet.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("attribkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, LookupError, OSError, RuntimeError, TypeError) as exc:
        print(f"attribkit {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
