"""Saliency speed, side by side in one run: attribkit vs raw autograd, and top-5 targets vs Captum.

    python bench/saliency.py                      # CPU here; GPU when present
    python bench/saliency.py --batch 64 --repeats 20 --device cuda

Prints, per model, milliseconds per image and the ratios the project tracks:
``saliency / raw`` (goal <= 1.03) and ``captum top-5 loop / attribkit top-5`` (goal >= 1.4 on vgg16).
Torchvision models use random weights (timing does not depend on them); the default model its real ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, pick_device, table  # noqa: E402

import attribkit  # noqa: E402


def raw_saliency(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """What a user writes by hand: one forward, one backward of the selected scores."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
    return grad


def raw_top5(model: torch.nn.Module, x: torch.Tensor, top5: torch.Tensor) -> torch.Tensor:
    """The hand-written batched VJP: one forward, one vmapped backward over 5 one-hot cotangents."""
    x = x.detach().requires_grad_(True)
    scores = model(x)
    cot = torch.zeros(5, *scores.shape, device=x.device).scatter_(2, top5.t()[..., None], 1.0)
    (grad,) = torch.autograd.grad(scores, x, cot, is_grads_batched=True)
    return grad


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="efficientnet_lite0,alexnet,resnet50,vgg16")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args()

    from captum.attr import Saliency as CaptumSaliency

    device = pick_device(args.device)
    rows = []
    for name in args.models.split(","):
        model = attribkit.load_model(name, weights=None if name == "efficientnet_lite0" else "random")
        model = model.to(device).eval()
        torch.manual_seed(0)
        x = torch.randn(args.batch, 3, args.size, args.size, device=device)
        with torch.no_grad():
            top5 = model(x).topk(5).indices
        target = top5[:, 0]
        ours = attribkit.create_attributor("saliency", model)
        captum = CaptumSaliency(model)

        def captum_loop() -> None:
            for k in range(5):
                captum.attribute(x.clone().requires_grad_(True), target=top5[:, k], abs=False)

        t = interleaved(
            {
                "raw": lambda: raw_saliency(model, x, target),
                "ours": lambda: ours.attribute(x, target=target),
                "captum": lambda: captum.attribute(x.clone().requires_grad_(True), target=target, abs=False),
                "raw_top5": lambda: raw_top5(model, x, top5),
                "ours_top5": lambda: ours.attribute(x, top_k=5),
                "captum_top5": captum_loop,
            },
            repeats=args.repeats,
            device=device,
        )
        ms = {k: 1000 * v / args.batch for k, v in t.items()}
        rows.append([
            name, f"{ms['raw']:.1f}", f"{ms['ours']:.1f}", f"{ms['captum']:.1f}",
            f"{t['ours'] / t['raw']:.3f}", f"{ms['raw_top5']:.1f}", f"{ms['ours_top5']:.1f}",
            f"{ms['captum_top5']:.1f}", f"{t['captum_top5'] / t['ours_top5']:.2f}",
        ])
        print(f"done {name}", file=sys.stderr, flush=True)
    print(f"device={device} batch={args.batch} size={args.size} repeats={args.repeats} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}  (ms per image, medians)")
    print(table(rows, ["model", "raw", "attribkit", "captum", "attribkit/raw (<=1.03)", "raw top5",
                       "attribkit top5", "captum top5 loop", "captum/attribkit top5 (>=1.4)"]))


if __name__ == "__main__":
    main()
