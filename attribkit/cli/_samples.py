"""``attribkit samples --out DIR``: the sample photos and their hand-drawn boxes, ready for ``--data``."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("samples", help="write the sample photos and their boxes (boxes.json) for --data",
                       description="Write the seven sample photos that ship with scikit-image, scikit-learn "
                                   "and matplotlib as JPEG files, with boxes.json holding their ImageNet "
                                   "classes and hand-drawn boxes: what `attribkit evaluate --data` and "
                                   "`attribkit study --data` read. No download.")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into (made when missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attribkit.data import write_sample_dataset

    print(write_sample_dataset(args.out))
    return 0
