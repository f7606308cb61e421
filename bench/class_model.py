"""Class model speed, side by side in one run: one attribkit ascent step vs the raw PyTorch loop.

    python bench/class_model.py                    # CPU here; GPU when present
    python bench/class_model.py --steps 10 --repeats 5 --device cuda

Both run the paper's ascent (forward, backward of S_c - λ||I||², update) for ``--steps`` steps from the
zero image; the table gives milliseconds per step and the ratio the project tracks: attribkit / raw
(goal <= 1.05), for a batch of 1 class and of 16 classes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, pick_device, table  # noqa: E402

import attribkit  # noqa: E402
from attribkit.visualise import MODES  # noqa: E402


def raw_ascent(model: torch.nn.Module, targets: torch.Tensor, *, steps: int, lr: float, l2: float,
               size: int) -> torch.Tensor:
    """What a user writes by hand: plain gradient ascent on the input with the L2 penalty."""
    x = torch.zeros(len(targets), 3, size, size, device=targets.device, requires_grad=True)
    index = targets[:, None]
    for _ in range(steps):
        objective = model(x).gather(1, index).sum() - l2 * x.square().sum()
        (grad,) = torch.autograd.grad(objective, x)
        with torch.no_grad():
            x.add_(grad, alpha=lr)
    return x.detach()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", default="1,16")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--device", default="auto")
    args = p.parse_args()

    device = pick_device(args.device)
    model = attribkit.load_model().to(device).eval()
    paper = MODES["paper"]
    rows = []
    for k in (int(b) for b in args.batches.split(",")):
        targets = torch.arange(k, device=device) * (1000 // k)
        ours = attribkit.create_visualiser("class_model", model, steps=args.steps, progress=False,
                                           size=(args.size, args.size))

        def raw() -> None:
            # The raw loop freezes the weights too (as attribkit does), so neither pays for weight grads.
            for prm in model.parameters():
                prm.requires_grad_(False)
            raw_ascent(model, targets, steps=args.steps, lr=paper.lr, l2=paper.l2, size=args.size)

        t = interleaved({"raw": raw, "ours": lambda: ours.visualise(targets)},
                        repeats=args.repeats, device=device)
        ms = {name: 1000 * v / args.steps for name, v in t.items()}
        rows.append([str(k), f"{ms['raw']:.1f}", f"{ms['ours']:.1f}", f"{t['ours'] / t['raw']:.3f}"])
        print(f"done batch {k}", file=sys.stderr, flush=True)
    print(f"device={device} steps={args.steps} size={args.size} repeats={args.repeats} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}  (ms per ascent step, medians)")
    print(table(rows, ["classes (batch)", "raw loop", "attribkit", "attribkit/raw (<=1.05)"]))


if __name__ == "__main__":
    main()
