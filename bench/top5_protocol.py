"""The paper's top-5 localisation protocol per photo (maps of the 5 top classes + 5 localisations), per
preset, against the cost of its parts, measured in the same run on one CPU core.

For each preset: the classifier's forward pass alone (the reference every other figure is a ratio of),
the 5 class maps (one attributor call for the 5 classes of a photo; then batched across photos), the 5
localisations, and ``attribkit.localise(model, photo, top_k=5, preset=...)`` end to end.

    OMP_NUM_THREADS=1 python bench/top5_protocol.py [--photos 20] [--batch 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import attribkit
from attribkit.data import read_annotations
from attribkit.localisation import crop_maps, photo_saliency, pipeline
from attribkit.localisation._presets import resolve_options


def clock(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ilsvrc-val-dev/boxes.json")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--presets", default="default,gradient,paper")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = attribkit.load_model()
    items = read_annotations(args.data)[: args.photos]
    loaded = [attribkit.load_image(i.path, model) for i in items]
    x = torch.cat([im.tensor for im in loaded])
    with torch.no_grad():
        model(x[:2])  # warm-up
        forward = clock(lambda: model(x)) / len(items)
        top5 = model(x).topk(5, -1).indices
    print(f"{len(items)} photos of {args.data}; one core; forward pass alone {1000 * forward:.1f} ms/photo = 1.00")
    print(f"{'preset':9} | {'5 maps, 1 photo/call':>20} | {f'5 maps, {args.batch} photos/call':>20} | "
          f"{'5 localisations':>15} | {'localise(top_k=5)':>17}   (ms per photo, ratio to the forward pass)")
    for preset in args.presets.split(","):
        chosen = pipeline(preset)
        maps_opts, loc_opts = resolve_options(preset, chosen.localiser, {}, attributor=chosen.attributor)
        attributor = attribkit.create_attributor(chosen.attributor, model, **maps_opts)
        localiser = attribkit.create_localiser(chosen.localiser, **loc_opts)
        single = clock(lambda: [crop_maps(attributor, x[i : i + 1], top5[i : i + 1]) for i in range(len(items))])
        batched_maps: list[torch.Tensor] = []
        batched = clock(lambda: batched_maps.extend(
            crop_maps(attributor, x[i : i + args.batch], top5[i : i + args.batch])
            for i in range(0, len(items), args.batch)))
        maps = torch.cat(batched_maps).numpy()
        on_photo = [[photo_saliency(m, im.geometry) for m in per] for per, im in zip(maps, loaded)]
        cuts = clock(lambda: [localiser.localise(im.rgb, m) for im, per in zip(loaded, on_photo) for m in per])
        whole = clock(lambda: [attribkit.localise(model, im, top_k=5, preset=preset) for im in loaded])
        cells = [t / len(items) for t in (single, batched, cuts, whole)]
        print(f"{preset:9} | " + " | ".join(f"{1000 * c:8.0f} ({c / forward:5.1f}x)".rjust(w)
                                            for c, w in zip(cells, (20, 20, 15, 17))))
    print(f"({np.prod(x.shape[1:]) / 1e3:.0f}k input values per photo; {chosen.attributor} etc. as in PIPELINES)")


if __name__ == "__main__":
    main()
