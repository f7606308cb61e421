"""``attribkit saliency IMAGE... --out DIR``: the paper's saliency maps as PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from attribkit.cli._common import (
    add_model_args,
    add_target_args,
    class_indices,
    existing_files,
    model_from_args,
    output_dir,
    progress,
)
from attribkit.render import slug


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("saliency", help="saliency maps for photos (paper section 3)",
                       description="Write a panel (photo, saliency map, overlay) and the bare map for each "
                                   "image and target class.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--method", default="saliency",
                   help="attributor to use (see `attribkit plugins`; default: saliency)")
    p.add_argument("--ten-crop", action="store_true", help="average over 10 crops and flips (the paper's display maps)")
    add_target_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import attribkit
    from attribkit.render import overlay, save_panel

    existing_files(args.images)
    out = output_dir(args.out)
    model = model_from_args(args)
    info = attribkit.model_info(model)
    device = next(model.parameters()).device
    target = None if args.target is None else class_indices(model, [args.target])[0]
    # Only methods built on the gradient engine take ten_crop; pass it only when asked for.
    attributor = attribkit.create_attributor(args.method, model, **({"ten_crop": True} if args.ten_crop else {}))
    failures = 0
    for path in progress(args.images, desc=args.method):
        try:
            image = attribkit.load_image(path, model)
        except attribkit.ImageError as exc:
            print(f"attribkit saliency: skipping {exc}", file=sys.stderr)
            failures += 1
            continue
        x = image.tensor.to(device)
        with torch.no_grad():
            probs = model(x).softmax(1)[0]
        grads = attributor.attribute(x, target=target, top_k=args.top_k)
        maps = attribkit.saliency_map(grads if grads.ndim == 5 else grads.unsqueeze(1))[0].cpu()
        classes = [target] if target is not None else probs.topk(maps.shape[0]).indices.tolist()
        crop = image.input_rgb
        stem = slug(Path(path).stem)
        for cls, m in zip(classes, maps):
            name = f"{stem}_{slug(info.class_names[cls])}_{slug(args.method)}"
            save_panel(out / f"{name}.png", [crop, m, overlay(crop, m)],
                       ["photo (model input)", f"{args.method} map", "overlay"],
                       suptitle=f"{Path(path).name}: {info.class_names[cls]} (p={probs[cls]:.2f})")
            print(out / f"{name}.png")
    return 1 if failures else 0
