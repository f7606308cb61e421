"""ROAD's noisy linear imputation: SciPy's sparse direct solve on the CPU against the batched conjugate
gradient of ``attribkit.metrics._road_solver`` (on the CPU, and on CUDA where there is one), in one run.

For each ILSVRC photo (227 x 227, standardised like a model's input) and each kind of map (``random``:
white noise, scattered removed pixels; ``smooth``: a 7 x 7 grid upsampled, Grad-CAM-like blobs, the large
removed regions that need the most steps) and order (MoRF, LeRF), the nine masks the study uses
(10%, ..., 90% removed) are imputed without noise:

- SciPy: one ``spsolve`` per mask (what ``road()`` does on a CPU);
- CG: the nine masks as one batch (what ``road()`` does on CUDA: one photo's fractions per chunk).

Reported: imputed copies per second of each, and the largest ``|CG - SciPy|`` over every pixel, copy and
photo (the tolerance the tests accept is ``TOLERANCE``). CPU timings are one thread each (SciPy's SuperLU
is single-threaded).

    OMP_NUM_THREADS=1 python bench/road.py [--photos 4] [--cpu-cg/--no-cpu-cg] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from attribkit.metrics import noisy_linear_imputation, removal_masks
from attribkit.metrics._road import FRACTIONS
from attribkit.metrics._road_solver import TOLERANCE, linear_imputation

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def photos(folder: Path, count: int) -> list[np.ndarray]:
    files = sorted(folder.glob("*.JPEG"))[:count]
    return [((np.asarray(Image.open(f).convert("RGB")) / 255.0 - MEAN) / STD).transpose(2, 0, 1) for f in files]


def maps(kind: str, size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if kind == "random":
        return torch.rand(1, size, size, generator=generator)
    return F.interpolate(torch.rand(1, 1, 7, 7, generator=generator), size=(size, size), mode="bilinear")[0]


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ilsvrc-val-dev/images")
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--maps", default="random,smooth")
    parser.add_argument("--no-scipy", dest="scipy", action="store_false", help="skip SciPy (no differences)")
    parser.add_argument("--no-cpu-cg", dest="cpu_cg", action="store_false", help="skip the CG on the CPU")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    devices = [torch.device("cpu")] if args.cpu_cg else []
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        linear_imputation(torch.rand(9, 3, 227, 227, device="cuda"),
                          torch.rand(9, 227, 227, device="cuda") < 0.5)    # warm-up: kernels, allocator
    seconds: dict[str, float] = {"scipy": 0.0, **{f"cg {d.type}": 0.0 for d in devices}}
    largest: dict[str, float] = {}
    copies = 0
    for p, image in enumerate(photos(Path(args.data), args.photos)):
        for kind in args.maps.split(","):
            for order in ("morf", "lerf"):
                masks = removal_masks(maps(kind, image.shape[-1], seed=p), FRACTIONS, order=order)[0]
                copies += len(masks)
                reference = None
                if args.scipy:
                    reference, t = timed(lambda: np.stack([noisy_linear_imputation(image, m.numpy(), noise=0.0)
                                                           for m in masks]), torch.device("cpu"))
                    seconds["scipy"] += t
                for device in devices:
                    batch = torch.as_tensor(image, device=device).expand(len(masks), -1, -1, -1)
                    out, t = timed(lambda: linear_imputation(batch, masks.to(device)), device)
                    seconds[f"cg {device.type}"] += t
                    if reference is not None:
                        diff = float(np.abs(out.cpu().numpy() - reference).max())
                        key = f"cg {device.type} {kind}"
                        largest[key] = max(largest.get(key, 0.0), diff)
                print(f"photo {p} {kind} {order}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
                      + "".join(f"; max |{k} - scipy| {v:.1e}" for k, v in largest.items()), flush=True)
    result = {
        "photos": args.photos, "maps": args.maps, "copies": copies, "size": 227, "fractions": list(FRACTIONS),
        "copies_per_s": {k: copies / v for k, v in seconds.items() if v > 0},
        "seconds": seconds, "largest_difference": largest, "tolerance": TOLERANCE,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu only",
    }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
