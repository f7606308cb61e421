"""Vision-transformer methods' speed, side by side in one run (issue 21, item 5).

    nice -n 10 python bench/transformers.py                    # CPU here (one thread); GPU when present
    python bench/transformers.py --model vit_small_patch16_224 --batch 8 --device cuda

Prints, for one random-weight timm ViT (timing does not depend on the weights):

- each transformer method's time per image (every one registered at run time: ``rollout``,
  ``attention_flow``, ``gradient_rollout``, ``legrad`` and, when their plugin is there, the LRP methods
  ``attnlrp``, ``cplrp``, ``chefer2021``) against one forward + one backward of the same ViT to the input
  (the plain gradient's cost), as the median of per-round ratios with a 95% bootstrap interval, the runs
  interleaved (A B C A B C ...) so drift hits all alike;
- the forward pass with attention made explicit and recorded
  (:func:`attribkit.transformers.recording_attention`) against the fused forward (goal <= 1.3).

``attention_flow`` solves one maximum flow per token and image on the CPU: it is timed over fewer rounds
(``--flow-repeats``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved_samples, paired_ratio, pick_device, table  # noqa: E402

import attribkit  # noqa: E402
from attribkit.transformers import recording_attention  # noqa: E402

#: Transformer methods timed when registered (the LRP ones come with their own plugin).
METHODS = ("rollout", "attention_flow", "gradient_rollout", "legrad", "attnlrp", "cplrp", "chefer2021")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit_base_patch16_224", help="timm model name (random weights)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--flow-repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="CPU intra-op threads")
    args = parser.parse_args(argv)

    import timm

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    torch.manual_seed(0)
    model = timm.create_model(args.model, pretrained=False).eval().to(device)
    side = model.pretrained_cfg["input_size"][-1]
    x = torch.randn(args.batch, 3, side, side, device=device)
    with torch.no_grad():
        target = model(x).argmax(1)
    # process time (this process's CPU) is steadier than wall time on a shared CPU; wall time on a GPU.
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def fused_forward() -> None:
        with torch.no_grad():
            model(x)

    def explicit_forward() -> None:
        with torch.no_grad(), recording_attention(model):
            model(x)

    def gradient() -> None:
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xg).gather(1, target[:, None]).sum(), xg)

    forward = interleaved_samples({"fused": fused_forward, "explicit": explicit_forward},
                                  repeats=args.repeats, device=device, clock=clock)
    ratio, low, high = paired_ratio(forward["explicit"], forward["fused"])
    print(f"{args.model}, batch {args.batch}, {device}, {args.threads} thread(s), {sys.platform}")
    print(f"forward, attention explicit and recorded / fused: {ratio:.3f} (95% CI {low:.3f}-{high:.3f}); "
          f"fused {1e3 * sorted(forward['fused'])[len(forward['fused']) // 2] / args.batch:.1f} ms per image\n")

    registered = set(attribkit.list_attributors())
    rows = []
    for method in [m for m in METHODS if m in registered]:
        attributor = attribkit.create_attributor(method, model)
        repeats = args.flow_repeats if method == "attention_flow" else args.repeats
        samples = interleaved_samples(
            {"gradient": gradient, method: lambda a=attributor: a.attribute(x, target=target)},
            repeats=repeats, device=device, clock=clock)
        ratio, low, high = paired_ratio(samples[method], samples["gradient"]) if repeats > 1 else \
            (samples[method][0] / samples["gradient"][0],) * 3
        per_image = sorted(samples[method])[len(samples[method]) // 2] / args.batch
        base = sorted(samples["gradient"])[len(samples["gradient"]) // 2] / args.batch
        rows.append([method, f"{1e3 * per_image:.1f}", f"{1e3 * base:.1f}", f"{ratio:.2f} ({low:.2f}-{high:.2f})",
                     str(repeats)])
    missing = [m for m in METHODS if m not in registered]
    print(table(rows, ["method", "ms / image", "fwd+bwd ms / image", "method / fwd+bwd (95% CI)", "rounds"]))
    if missing:
        print(f"\nnot registered here: {', '.join(missing)}")


if __name__ == "__main__":
    main()
