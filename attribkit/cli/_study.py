"""``attribkit study --methods ... --localisers ... --data ... --out DIR``: a comparative study."""

from __future__ import annotations

import argparse
import json
import os

from attribkit.cli._common import CommandError, add_model_args, model_from_args, output_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study", help="compare methods x localisers over a dataset: table, plots, HTML report",
        description="Run every method x localiser over the photos, writing per-photo records as they are "
                    "computed (an interrupted study resumes where it stopped), then results.csv, "
                    "results.md, metrics.png, curves.png, index.html and explorer.html (interactive). Under "
                    "torchrun the photos are sharded across processes and rank 0 writes the merged report; with "
                    "--shard i/n one shard runs alone (a SLURM array task), and --merge DIR_0 DIR_1 ... --out DIR "
                    "writes the records and the report of all shards.")
    p.add_argument("--methods", default=None,
                   help="comma-separated attributors, e.g. saliency,random,captum:gradcam")
    p.add_argument("--localisers", default="", help="comma-separated localisers, e.g. graphcut,threshold")
    p.add_argument("--data", default=None,
                   help="'samples' or 'samples:chelsea,coffee', a folder of photos, or an annotation "
                        "file/folder (boxes.json, ILSVRC XML)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--workers", type=int, default=2,
                   help="localiser processes beside the maps (0: serial; default 2)")
    p.add_argument("--steps", type=int, default=16,
                   help="steps of the deletion/insertion curves (0: skip them; default 16)")
    p.add_argument("--batch-size", type=int, default=64, help="perturbed images per forward pass")
    p.add_argument("--gallery", type=int, default=8, help="photos shown in the HTML gallery (default 8)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    p.add_argument("--top-k", type=int, default=5,
                   help="for photos with ground-truth boxes, also localise the model's top-k classes (the "
                        "ILSVRC top-1/top-5 localisation error; 0: only the annotated class; default 5)")
    p.add_argument("--road", type=int, default=0, metavar="N",
                   help="ROAD (Rong et al. 2022, MoRF and LeRF with noisy linear imputation) for the first N "
                        "photos; about 4 s per photo and method on two CPU cores (default 0: none)")
    p.add_argument("--sanity", type=int, default=0, metavar="N",
                   help="model-parameter randomisation sanity check (Adebayo et al. 2018, cascading, block by "
                        "block) for the first N photos (default 0: none)")
    add_device_use_args(p)
    p.add_argument("--options", default=None, metavar="JSON",
                   help='per-name options, e.g. \'{"captum:gradcam": {"layer": "blocks.5"}, '
                        '"graphcut": {"work_size": 112}}\'')
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="compute only shard I of N (photos I, I+N, I+2N, ...; 0 <= I < N) into --out, alone, no "
                        "report; merge the shards' folders with --merge")
    p.add_argument("--merge", nargs="+", default=None, metavar="DIR",
                   help="merge these shard folders (of one study, same settings) into --out: records and report; "
                        "photos no folder has are named (exit status 1)")
    p.add_argument("--allow-outside-paths", action="store_true",
                   help="accept photo paths in an annotation file that lead outside its folder")
    add_model_args(p)
    p.set_defaults(func=run, top_k_minimum=0)


def map_batch(text: str) -> int | str:
    """``--map-batch``: a whole number or ``auto`` (argparse's usage error, exit 2, otherwise)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto'; got {text!r}") from None


def add_device_use_args(p: argparse.ArgumentParser) -> None:
    """``--map-batch``, ``--precision`` and ``--loader-workers``: how a study or evaluate uses the machine."""
    p.add_argument("--map-batch", type=map_batch, default=8, metavar="N|auto",
                   help="photos per forward pass of the maps (default 8); auto: the largest that fits the "
                        "device, halved when it runs out of memory (256 at first on a GPU, 8 on a CPU)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="the maps' forward and backward in float32 (default) or under bf16/fp16 autocast; "
                        "metrics stay float32")
    p.add_argument("--loader-workers", type=int, default=0, metavar="N",
                   help="processes that read and decode the photos ahead of the maps (default 0: this process)")


#: The study's numeric options and their least values.
MINIMUMS = {"--limit": 1, "--workers": 0, "--steps": 0, "--batch-size": 1, "--gallery": 0, "--top-k": 0,
            "--map-batch": 1, "--road": 0, "--sanity": 0, "--loader-workers": 0}


def check_numbers(args: argparse.Namespace, minimums: dict[str, int]) -> None:
    """A usage error (exit 2, one line) for the first numeric option below its least value."""
    for option, low in minimums.items():
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if isinstance(value, int) and value < low:  # not "auto" (--map-batch)
            raise CommandError(f"{option} must be >= {low}; got {value}", status=2)


def skipped_status(skipped: dict[str, str], command: str) -> int:
    """1 (and a line on stderr) when photos were skipped, else 0."""
    if not skipped:
        return 0
    import sys

    print(f"attribkit {command}: {len(skipped)} photo(s) skipped (listed under the table): "
          f"{', '.join(skipped)}", file=sys.stderr)
    return 1


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def run(args: argparse.Namespace) -> int:
    import torch

    from attribkit import get_registry
    from attribkit.errors import AnnotationError
    from attribkit.study import run_study, study_images

    check_numbers(args, MINIMUMS)
    if args.merge is not None:
        return merge(args)
    if args.methods is None or args.data is None:
        raise CommandError("attribkit study needs --methods and --data (or --merge DIR ... to merge shards)",
                           status=2)
    shard = parse_shard(args.shard)
    methods, localisers = _names(args.methods), _names(args.localisers)
    registry = get_registry()
    # An unknown name fails now, naming close matches.
    for name in methods:
        registry.get("attributor", name)
    for name in localisers:
        registry.get("localiser", name)
    if not methods:
        raise CommandError("--methods names no method", status=2)
    try:
        options = json.loads(args.options) if args.options else {}
    except json.JSONDecodeError as exc:
        raise CommandError(f"--options is not valid JSON: {exc}", status=2) from exc
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise CommandError('--options must map names to option objects, e.g. {"graphcut": {...}}', status=2)
    stray = sorted(set(options) - set(methods) - set(localisers))
    if stray:
        raise CommandError(f"--options names {', '.join(stray)}, not in --methods or --localisers", status=2)
    out = output_dir(args.out)
    if args.device == "auto" and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        args.device = f"cuda:{os.environ['LOCAL_RANK']}"  # one GPU per torchrun process
    model = model_from_args(args)
    from attribkit.study._data import class_of

    try:
        data = study_images(args.data, class_index=lambda label: class_of(model, label),
                            allow_outside=args.allow_outside_paths)[: args.limit]
    except AnnotationError as exc:
        raise CommandError(str(exc), status=2) from exc
    result = run_study(
        model, data, methods=methods, localisers=localisers, out=out, workers=args.workers,
        steps=args.steps, batch_size=args.batch_size, gallery=args.gallery,
        method_options={k: v for k, v in options.items() if k in methods},
        localiser_options={k: v for k, v in options.items() if k in localisers},
        top_k=args.top_k, map_batch=args.map_batch, road=args.road, sanity=args.sanity,
        loader_workers=args.loader_workers, precision=args.precision, shard=shard,
    )
    if result is not None and shard is not None:
        print(f"shard {shard[0]}/{shard[1]}: {len(result.records)} records in {result.out}; when every shard is done: "
              f"attribkit study --merge DIR_0 ... DIR_{shard[1] - 1} --out DIR")
        return skipped_status(result.skipped, "study")
    if result is not None:
        print((result.out / "results.md").read_text(), end="")
        for path in result.files.values():
            print(path)
        return skipped_status(result.skipped, "study")
    return 0


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` → ``(2, 4)``; a usage error (exit 2) for anything but ``I/N`` with ``0 <= I < N``."""
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
        raise CommandError(f"--shard must be I/N with 0 <= I < N, e.g. 0/4; got {text!r}", status=2)
    if "WORLD_SIZE" in os.environ and int(os.environ.get("WORLD_SIZE") or 1) > 1:
        raise CommandError("--shard runs one shard alone; under torchrun the ranks are the shards", status=2)
    return int(index), int(count)


def merge(args: argparse.Namespace) -> int:
    """``attribkit study --merge DIR ... --out DIR``: the records and the report of the shards."""
    import sys
    import warnings

    from attribkit.study import merge_studies

    given = [o for o, v in (("--methods", args.methods), ("--data", args.data), ("--shard", args.shard)) if v]
    if given:
        raise CommandError(f"--merge takes the settings from the folders; drop {', '.join(given)}", status=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*have no records in the merged folders")  # said below
        result = merge_studies(args.merge, output_dir(args.out))
    print((result.out / "results.md").read_text(), end="")
    for path in result.files.values():
        print(path)
    if result.missing:
        names = list(result.missing)
        shards = sorted(set(result.missing.values()), key=lambda s: tuple(map(int, s.split("/"))))
        print(f"attribkit study --merge: {len(names)} photo(s) have no records (shard(s) {', '.join(shards)} not "
              f"merged or not finished): {', '.join(names[:10])}{', ...' if len(names) > 10 else ''} "
              f"(all in {result.out / 'missing.txt'})", file=sys.stderr)
        return 1
    return skipped_status(result.skipped, "study")
