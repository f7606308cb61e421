"""Saliency speed, side by side in one run: attribkit vs raw autograd, and top-5 targets vs Captum.

    python bench/saliency.py                      # CPU here; GPU when present
    python bench/saliency.py --batch 64 --repeats 20 --device cuda
    python bench/saliency.py --api                # attribkit.saliency / localise on one photo

Prints, per model, milliseconds per image and the ratios the project tracks:
``saliency / raw`` (goal <= 1.03) and ``captum top-5 loop / attribkit top-5`` (goal >= 1.4 on vgg16).
Torchvision models use random weights (timing does not depend on them); the default model its real ones.

``--api`` times the photo-level verbs on the default model and one sample photo, one intra-op thread:
``attribkit.saliency(model, photo)`` and ``attribkit.localise`` (plain gradient + threshold box) against
the raw forward + backward of the same preprocessed photo (the classes chosen from that forward), for
K = 1 and K = 5 (goal <= 1.05: one forward pass per photo), and the two-pass path the verbs took before
(a ``no_grad`` forward for the classes, then the attribution's own).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, interleaved_samples, paired_ratio, pick_device, table  # noqa: E402

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


def raw_photo(model: torch.nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    """By hand, for one photo: one forward, its top-k classes, k backward passes over the one graph (what
    attribkit runs on CPU for a model with grouped convolutions), the map ``max_c |grad|``."""
    x = x.detach().requires_grad_(True)
    scores = model(x)
    chosen = scores.detach().topk(k).indices[0]
    grads = [torch.autograd.grad(scores[0, c], x, retain_graph=i < k - 1)[0] for i, c in enumerate(chosen)]
    return torch.cat(grads).abs().amax(1)


def api(repeats: int) -> None:
    """``attribkit.saliency`` and ``localise`` against raw autograd on one photo, K = 1 and 5."""
    torch.set_num_threads(1)
    import time

    model = attribkit.load_model().eval()
    for p in model.parameters():  # as attribkit's own calls do: no parameter gradients
        p.requires_grad_(False)
    photo = attribkit.load_image(attribkit.data.sample_photo("chelsea"), model)
    x = photo.tensor
    threshold = attribkit.Recipe(attributor="saliency", localiser="threshold", preset=None)
    plain = attribkit.Recipe(attributor="saliency", localiser=None, preset=None)

    def two_pass(k: int) -> None:
        with torch.no_grad():
            model(x)
        attribkit.saliency(model, photo, top_k=k, recipe=plain)

    rows = []
    for k in (1, 5):
        samples = interleaved_samples({
            "raw": lambda: raw_photo(model, x, k),
            "saliency": lambda: attribkit.saliency(model, photo, top_k=k, recipe=plain),
            "localise": lambda: attribkit.localise(model, photo, top_k=k, recipe=threshold),
            "two_pass": lambda: two_pass(k),
        }, repeats=repeats, device=torch.device("cpu"), clock=time.process_time)
        t = {name: statistics.median(v) for name, v in samples.items()}
        row = [str(k), f"{1000 * t['raw']:.0f}"]
        for name in ("saliency", "localise", "two_pass"):
            ratio, low, high = paired_ratio(samples[name], samples["raw"])
            row += [f"{1000 * t[name]:.0f}", f"{ratio:.3f} [{low:.3f}, {high:.3f}]"]
        rows.append(row)
    print(f"efficientnet_lite0, chelsea ({photo.geometry.width}x{photo.geometry.height}), cpu, 1 thread, "
          f"{repeats} repeats (medians of process time, ms; ratios: median of the paired per-round ratios "
          f"[95% bootstrap interval]) torch={torch.__version__}")
    print(table(rows, ["K", "raw fwd+bwd", "saliency", "saliency/raw (<=1.05)", "localise (threshold)",
                       "localise/raw", "two-pass (before)", "two-pass/raw"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", action="store_true", help="time attribkit.saliency/localise on one photo instead")
    p.add_argument("--models", default="efficientnet_lite0,alexnet,resnet50,vgg16")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    if args.api:
        api(args.repeats)
        return

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
