"""DeconvNet and guided backprop speed, side by side in one run: vs raw autograd saliency and vs Captum.

    python bench/rules.py                          # CPU here; GPU when present
    python bench/rules.py --batch 64 --repeats 20 --device cuda

Prints, per model, milliseconds per image and the ratios the project tracks: ``deconvnet / raw`` and
``guided / raw`` (goal <= 1.05; Captum measured 1.12-1.21x on GPU) and attribkit / Captum for the same
method. Torchvision models use random weights (timing does not depend on them); the default model its real
ones. All candidates run with frozen parameters, interleaved (A B C A B C ...), medians reported.

Note that on EfficientNet-Lite0 (ReLU6) Captum's hooks on ``nn.ReLU`` find nothing: its numbers there are
those of a plain gradient, not of DeconvNet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, pick_device, table  # noqa: E402
from saliency import raw_saliency  # noqa: E402  (the same hand-written baseline)

import attribkit  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="efficientnet_lite0,vgg16,resnet50")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads (default 1: steadier ratios on a shared machine)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    import warnings

    from captum.attr import Deconvolution, GuidedBackprop

    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
    device = pick_device(args.device)
    rows = []
    for name in args.models.split(","):
        model = attribkit.load_model(name, weights=None if name == "efficientnet_lite0" else "random")
        model = model.to(device).eval().requires_grad_(False)
        torch.manual_seed(0)
        x = torch.randn(args.batch, 3, args.size, args.size, device=device)
        with torch.no_grad():
            target = model(x).argmax(1)
        deconv = attribkit.create_attributor("deconvnet", model)
        guided = attribkit.create_attributor("guided_backprop", model)
        captum_deconv, captum_guided = Deconvolution(model), GuidedBackprop(model)
        t = interleaved(
            {
                "raw": lambda: raw_saliency(model, x, target),
                "deconvnet": lambda: deconv.attribute(x, target=target),
                "guided": lambda: guided.attribute(x, target=target),
                "captum_deconv": lambda: captum_deconv.attribute(x.clone().requires_grad_(True), target=target),
                "captum_guided": lambda: captum_guided.attribute(x.clone().requires_grad_(True), target=target),
            },
            repeats=args.repeats,
            device=device,
            # One CPU thread: count this process's CPU time, not the other jobs' slices on a shared box.
            clock=time.process_time if device.type == "cpu" and args.threads == 1 else time.perf_counter,
        )
        ms = {k: 1000 * v / args.batch for k, v in t.items()}
        rows.append([
            name, f"{ms['raw']:.1f}", f"{ms['deconvnet']:.1f}", f"{ms['guided']:.1f}",
            f"{ms['captum_deconv']:.1f}", f"{ms['captum_guided']:.1f}",
            f"{t['deconvnet'] / t['raw']:.3f}", f"{t['guided'] / t['raw']:.3f}",
            f"{t['captum_deconv'] / t['raw']:.3f}", f"{t['captum_guided'] / t['raw']:.3f}",
            f"{t['deconvnet'] / t['captum_deconv']:.3f}", f"{t['guided'] / t['captum_guided']:.3f}",
        ])
        print(f"done {name}", file=sys.stderr, flush=True)
    clock = "process CPU time" if device.type == "cpu" and args.threads == 1 else "wall time"
    print(f"device={device} batch={args.batch} size={args.size} repeats={args.repeats} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}  (ms per image, medians of {clock})")
    print(table(rows, ["model", "raw", "deconvnet", "guided", "captum deconv", "captum guided",
                       "deconv/raw (<=1.05)", "guided/raw (<=1.05)", "captum deconv/raw",
                       "captum guided/raw", "deconv/captum", "guided/captum"]))


if __name__ == "__main__":
    main()
